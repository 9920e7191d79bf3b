#!/usr/bin/env bash
# make bench-net: networking costs, berthd side by side with podman
# (netavark, its default `podman` bridge) and docker (dockerd started here
# with its iptables rules and docker0, stopped and cleaned up at the end),
# default bridge networking, busybox from the local registry.
#
#   scripts/bench-net.sh /abs/berthd /abs/berth
#
#   run     `run --rm busybox true` on the default bridge, median of $RUNS
#   user    the same on a user-defined network (berth and docker: embedded DNS)
#   50 -p   50 `run -d -p PORT:80` in parallel, wall time until all returned
#   rules   berth only: adding and removing one container's published port in
#           berthd's own nftables table (the statements berthd runs), with 1
#           and with 500 ports already published, mean of 20
#
# ENGINES="berth podman docker" chooses who runs. Needs the fixture
# registries up (make bench does it). Every packet stays on this host.
set -euo pipefail
BERTHD=${1:?usage: bench-net.sh /abs/berthd /abs/berth}
BERTH=${2:?usage: bench-net.sh /abs/berthd /abs/berth}
REG=${BERTH_REGISTRY:-127.0.0.1:5000}
RUNS=${RUNS:-10}
PAR=${PAR:-50}
ENGINES=${ENGINES:-berth podman docker}
. "$(dirname "$0")/bench-lib.sh"
case " $ENGINES " in *" podman "*) need podman podman; need runc runc ;; esac
case " $ENGINES " in *" docker "*) need dockerd docker.io ;; esac
need jq jq

W=$(mktemp -d /tmp/berth-bench-net.XXXXXX)
BPID="" DPID=""
TABLES_BEFORE=$(nft list tables)
cleanup() {
  set +e
  [ -n "$BPID" ] && { b rm -f $(b ps -aq) >/dev/null 2>&1; b network prune -f >/dev/null 2>&1; kill "$BPID"; wait "$BPID"; } 2>/dev/null
  if [ -n "$DPID" ]; then
    d rm -f $(d ps -aq) >/dev/null 2>&1
    d network prune -f >/dev/null 2>&1
    kill "$DPID"; wait "$DPID" 2>/dev/null
    # dockerd leaves docker0 and its iptables chains behind.
    ip link del docker0 2>/dev/null
  fi
  p rm -af >/dev/null 2>&1
  p network rm -f bnet >/dev/null 2>&1
  ip link del podman0 2>/dev/null
  nft list tables | while read -r t; do
    printf '%s\n' "$TABLES_BEFORE" | grep -qxF "$t" || nft delete $t
  done
  grep " $W" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  rm -rf "$W"
}
trap cleanup EXIT

engine_wrappers


echo '{}' >"$W/daemon.json"
IMG="$REG/busybox:latest"
declare -A R

for e in $ENGINES; do
  case "$e" in
  berth)
    "$BERTHD" --data-root "$W/berth/root" -H "unix://$W/berth.sock" --config-file "$W/daemon.json" >"$W/berthd.log" 2>&1 &
    BPID=$!; waitsock "$W/berth.sock"; c=b ;;
  podman) c=p ;;
  docker)
    mkdir -p "$W/docker"
    dockerd --data-root "$W/docker/root" --exec-root "$W/docker/exec" -H "unix://$W/docker.sock" \
      --pidfile "$W/docker/pid" --config-file "$W/daemon.json" \
      --containerd-namespace bench --containerd-plugins-namespace bench-plugins >"$W/dockerd.log" 2>&1 &
    DPID=$!; waitsock "$W/docker.sock"
    for _ in $(seq 100); do d version >/dev/null 2>&1 && break; sleep 0.1; done
    c=d ;;
  esac
  if [ "$c" = p ]; then $c pull -q --tls-verify=false "$IMG" >/dev/null; else $c pull -q "$IMG" >/dev/null; fi
  $c run --rm "$IMG" true >/dev/null # warm caches, and the bridge up
  R[$e,run]=$(for _ in $(seq "$RUNS"); do timed $c run --rm "$IMG" true; done | median)
  $c network create bnet >/dev/null
  $c run --rm --network bnet "$IMG" true >/dev/null
  R[$e,user]=$(for _ in $(seq "$RUNS"); do timed $c run --rm --network bnet "$IMG" true; done | median)
  $c network rm bnet >/dev/null
  t0=$(now)
  seq "$PAR" | xargs -P "$PAR" -I{} sh -c "'$W/$c' run -d --name bench-p{} -p \$((21000+{})):80 '$IMG' sleep 1000 >/dev/null"
  t1=$(now)
  R[$e,par]=$(( (t1 - t0) / 1000000 ))
  n=$($c ps -q | wc -l)
  [ "$n" -ge "$PAR" ] || echo "$e: only $n of $PAR containers running" >&2
  $c rm -f $($c ps -aq) >/dev/null
  if [ "$e" = berth ]; then
    # berthd's table and its all-addresses port map, as berthd changes them per container.
    T=$(nft list tables | awk '/table ip berth/ {print $3}' | head -1)
    rule_us() {
      local t0 t1
      t0=$(now)
      for _ in $(seq 20); do
        echo "create element ip $T ports { tcp . 64999 : 10.89.0.250 . 80 }" | nft -f -
        echo "delete element ip $T ports { tcp . 64999 }" | nft -f -
      done
      t1=$(now)
      echo $(( (t1 - t0) / 20 / 1000 ))
    }
    $c run -d --name bench-r1 -p 20999:80 "$IMG" sleep 1000 >/dev/null
    T=$(nft list tables | awk '/table ip berth/ {print $3}' | head -1)
    R[berth,rule1]=$(rule_us)
    $c run -d --name bench-r500 -p 30000-30498:30000-30498 "$IMG" sleep 1000 >/dev/null
    have=$(nft list map ip "$T" ports | grep -o ' : ' | wc -l)
    R[berth,rule500]=$(rule_us)
    echo "(berth's port map held $have elements for the 500 row)"
    $c rm -f bench-r1 bench-r500 >/dev/null
  fi
done

printf '\n%-40s' ""; for e in $ENGINES; do printf '%12s' "$e"; done; printf '%16s\n' "berth/others"
row() { # row KEY LABEL UNIT
  printf '%-40s' "$2"
  for e in $ENGINES; do printf '%12s' "${R[$e,$1]:-}${R[$e,$1]:+ $3}"; done
  local r=""
  for e in $ENGINES; do
    [ "$e" = berth ] && continue
    [ -n "${R[berth,$1]:-}" ] && [ -n "${R[$e,$1]:-}" ] &&
      r="$r $(awk -v a="${R[berth,$1]}" -v c="${R[$e,$1]}" 'BEGIN{ if (c > 0) printf "%.2fx", a/c}')"
  done
  printf '%16s\n' "$r"
}
row run "run --rm true (default bridge)" ms
row user "run --rm true (user network)" ms
row par "$PAR x run -d -p in parallel" ms
row rule1 "port add+remove, 1 published" us
row rule500 "port add+remove, 500 published" us
echo "(medians of $RUNS runs; podman runs runc: crun refuses this host's hybrid cgroups)"
