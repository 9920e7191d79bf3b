#!/bin/sh
# Runs inside the cgroup2 VM (see bench.py): bisects the smallest
# memory.limit (memory+swap the same) with which `run /bin/true` succeeds.
# $1 runtime binary, $2 bundle whose config.json has LIMIT placeholders.
set -u
RT=$1
B=$2
ROOT=/run/berth-bench-v2
# The bundle goes to the VM's own RAM-backed root first: read over 9p, its
# page cache would be charged to (and thrash inside) the tiny cgroup, which
# measures the share, not the runtime. On the host the cache is warm too.
mkdir -p /tmp/bench-mem && cp -a "$B/." /tmp/bench-mem/ && B=/tmp/bench-mem
cp "$B/config.json" "$B/config.tmpl"
try() {
  sed "s/\"LIMIT\"/$1/g" "$B/config.tmpl" > "$B/config.json"
  # Near the limit a program can thrash (reclaiming its own text pages)
  # instead of being OOM-killed: not finishing in 5 s counts as failing.
  # SIGKILL, because the runtime forwards TERM to a pid 1 that ignores it.
  timeout -s KILL 5 "$RT" --root $ROOT run --bundle "$B" "m$1" >/dev/null 2>&1
  rc=$?
  "$RT" --root $ROOT delete -f "m$1" >/dev/null 2>&1
  return $rc
}
lo=0
hi=$((64 << 20))
try $hi || { echo "failed at 64 MiB"; exit 0; }
while [ $((hi - lo)) -gt $((16 << 10)) ]; do
  mid=$(( (lo + hi) / 2 / 4096 * 4096 ))
  if try $mid; then hi=$mid; else lo=$mid; fi
done
echo "$((hi / 1024)) KiB"
