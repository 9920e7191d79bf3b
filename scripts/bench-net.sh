#!/bin/sh
# Networking costs under berthd with default bridge networking: `run --rm
# busybox true` (N times, mean), and 50 detached containers started one
# after the other. Uses a throw-away data root and the fixture registry.
set -eu
T=${CARGO_TARGET_DIR:-target}/release
REG=${BERTH_REGISTRY:-127.0.0.1:5000}
D=$(mktemp -d /tmp/berth-bench-net.XXXXXX)
echo '{}' > "$D/daemon.json"
"$T/berthd" --data-root "$D/root" -H "unix://$D/s" --config-file "$D/daemon.json" \
  --runtime "$T/berth-runtime" --shim "$T/berth-shim" >"$D/log" 2>&1 &
BPID=$!
trap 'kill $BPID 2>/dev/null; wait $BPID 2>/dev/null; rm -rf "$D"' EXIT
while [ ! -S "$D/s" ]; do sleep 0.05; done
B="$T/berth -H unix://$D/s"
$B pull -q "$REG/busybox" >/dev/null
N=${N:-20}
s=$(date +%s%N); i=0
while [ $i -lt $N ]; do $B run --rm "$REG/busybox" true; i=$((i+1)); done
e=$(date +%s%N)
echo "run --rm busybox true (bridge): $(( (e-s)/N/1000000 )) ms mean of $N"
s=$(date +%s%N); i=0
while [ $i -lt 50 ]; do $B run -d "$REG/busybox" sleep 600 >/dev/null; i=$((i+1)); done
e=$(date +%s%N)
echo "50 detached containers (bridge, no published ports): $(( (e-s)/1000000 )) ms"
$B rm -f $($B ps -aq) >/dev/null
