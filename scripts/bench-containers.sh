#!/usr/bin/env bash
# make bench-containers: the container engine side by side with podman and
# docker (dockerd started here, on its own data root and socket, stopped at
# the end) in one run, on this machine, busybox from the local registry.
#
#   scripts/bench-containers.sh /abs/berthd /abs/berth
#
#   run    `run --rm --network none busybox true`, median of $RUNS
#   exec   `exec c true` into a running container, median of $RUNS
#   stop   `stop` of a container whose pid 1 handles SIGTERM, median of $STOPS
#   50 -d  50 `run -d --network none` in parallel, wall time until all returned
#   PSS    per-container monitor: berth-shim, conmon, containerd-shim-runc-v2,
#          alone and the mean over $PAR running at once
#   idle   berthd RSS with nothing running (dockerd + containerd for scale)
#
# Needs the fixture registries up (scripts/fixtures.sh up; make bench does it).
# ENGINES="berth podman docker" chooses who runs.
set -euo pipefail
BERTHD=${1:?usage: bench-containers.sh /abs/berthd /abs/berth}
BERTH=${2:?usage: bench-containers.sh /abs/berthd /abs/berth}
REG=${BERTH_REGISTRY:-127.0.0.1:5000}
RUNS=${RUNS:-10}
STOPS=${STOPS:-5}
PAR=${PAR:-50}
ENGINES=${ENGINES:-berth podman docker}
. "$(dirname "$0")/bench-lib.sh"
need podman podman
need runc runc
need dockerd docker.io
need jq jq

W=$(mktemp -d /tmp/berth-bench-ctr.XXXXXX)
BPID="" DPID=""
cleanup() {
  set +e
  [ -n "$BPID" ] && { b rm -f $(b ps -aq) >/dev/null 2>&1; kill "$BPID"; wait "$BPID"; } 2>/dev/null
  if [ -n "$DPID" ]; then
    d rm -f $(d ps -aq) >/dev/null 2>&1
    kill "$DPID"; wait "$DPID" 2>/dev/null
  fi
  p rm -af >/dev/null 2>&1
  grep " $W" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  rm -rf "$W"
}
trap cleanup EXIT

# One wrapper per engine, so xargs can run them in parallel too.
engine_wrappers

pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

echo '{}' >"$W/daemon.json"
IMG="$REG/busybox:latest"
declare -A R
TRAP='trap "exit 0" TERM; sleep 1000 & wait'

for e in $ENGINES; do
  case "$e" in
  berth)
    "$BERTHD" --data-root "$W/berth/root" -H "unix://$W/berth.sock" --config-file "$W/daemon.json" >"$W/berthd.log" 2>&1 &
    BPID=$!; waitsock "$W/berth.sock"; sleep 0.3
    R[berth,idle]=$(rss_kb "$BPID")
    c=b ;;
  podman) c=p ;;
  docker)
    mkdir -p "$W/docker"
    dockerd --data-root "$W/docker/root" --exec-root "$W/docker/exec" -H "unix://$W/docker.sock" \
      --pidfile "$W/docker/pid" --iptables=false --ip6tables=false --bridge=none --config-file "$W/daemon.json" \
      --containerd-namespace bench --containerd-plugins-namespace bench-plugins >"$W/dockerd.log" 2>&1 &
    DPID=$!; waitsock "$W/docker.sock"
    for _ in $(seq 100); do d version >/dev/null 2>&1 && break; sleep 0.1; done
    R[docker,idle]=$(( $(rss_kb "$DPID") + $(for q in $(pgrep -P "$DPID" containerd); do rss_kb "$q"; done | awk '{s+=$1} END {print s+0}') ))
    c=d ;;
  esac
  if [ "$c" = p ]; then $c pull -q --tls-verify=false "$IMG" >/dev/null; else $c pull -q "$IMG" >/dev/null; fi
  $c run --rm --network none "$IMG" true >/dev/null # warm caches
  R[$e,run]=$(for _ in $(seq "$RUNS"); do timed $c run --rm --network none "$IMG" true; done | median)
  $c run -d --name bench-exec --network none "$IMG" sleep 1000 >/dev/null
  R[$e,exec]=$(for _ in $(seq "$RUNS"); do timed $c exec bench-exec true; done | median)
  case "$e" in
    berth) mon=$(pgrep -f "berth-shim.*$($c inspect bench-exec | jq -r '.[0].Id')" | head -1) ;;
    podman) mon=$(pgrep -f "conmon.*$($c inspect -f '{{.Id}}' bench-exec)" | head -1) ;;
    docker) mon=$(pgrep -f "containerd-shim.*$($c inspect -f '{{.Id}}' bench-exec)" | head -1) ;;
  esac
  R[$e,pss]=$( [ -n "$mon" ] && pss_kb "$mon" || echo "?")
  $c rm -f bench-exec >/dev/null
  R[$e,stop]=$(for i in $(seq "$STOPS"); do
    $c run -d --name "bench-stop$i" --network none "$IMG" sh -c "$TRAP" >/dev/null
    sleep 0.3
    timed $c stop "bench-stop$i"
    $c rm -f "bench-stop$i" >/dev/null
  done | median)
  t0=$(now)
  seq "$PAR" | xargs -P "$PAR" -I{} "$W/$c" run -d --name bench-par{} --network none "$IMG" sleep 1000 >/dev/null
  t1=$(now)
  R[$e,par]=$(( (t1 - t0) / 1000000 ))
  n=$($c ps -q | wc -l)
  [ "$n" -ge "$PAR" ] || echo "$e: only $n of $PAR containers running" >&2
  # With $PAR running, each monitor's share of the pages they all map (its
  # binary, libc) is what one more container costs.
  case "$e" in
    berth) mons=$(pgrep -f "^[^ ]*berth-shim --id") ;;
    podman) mons=$(pgrep -x conmon) ;;
    docker) mons=$(pgrep -f containerd-shim-runc) ;;
  esac
  R[$e,pssn]=$(for m in $mons; do pss_kb "$m"; done | awk '{s+=$1; n++} END {if (n) printf "%d", s/n; else print "?"}')
  $c rm -f $($c ps -aq) >/dev/null
done

printf '\n%-34s' ""; for e in $ENGINES; do printf '%12s' "$e"; done; printf '%16s\n' "berth/others"
row() { # row KEY LABEL UNIT
  printf '%-34s' "$2"
  for e in $ENGINES; do printf '%12s' "${R[$e,$1]:-}${R[$e,$1]:+ $3}"; done
  local r=""
  for e in $ENGINES; do
    [ "$e" = berth ] && continue
    [ -n "${R[berth,$1]:-}" ] && [ -n "${R[$e,$1]:-}" ] && [ "${R[$e,$1]}" != "?" ] && [ "${R[berth,$1]}" != "?" ] &&
      r="$r $(awk -v a="${R[berth,$1]}" -v c="${R[$e,$1]}" 'BEGIN{ if (c > 0) printf "%.2fx", a/c}')"
  done
  printf '%16s\n' "$r"
}
row run "run --rm --network none true" ms
row exec "exec c true" ms
row stop "stop (pid 1 traps SIGTERM)" ms
row par "$PAR x run -d in parallel" ms
row pss "monitor PSS, 1 container" KiB
row pssn "monitor PSS, mean of $PAR" KiB
row idle "daemon RSS idle" KiB
echo "(medians of $RUNS runs; stop of $STOPS; podman has no daemon; docker's idle is dockerd + its containerd)"
