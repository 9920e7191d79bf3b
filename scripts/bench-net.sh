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
s=$(date +%s%N); i=0
while [ $i -lt 50 ]; do $B run -d -p $((20000+i)):80 "$REG/busybox" sleep 600 >/dev/null; i=$((i+1)); done
e=$(date +%s%N)
echo "50 detached containers, one published port each: $(( (e-s)/1000000 )) ms"
$B rm -f $($B ps -aq) >/dev/null

# The per-container rule change is one element of one nft map: time adding
# and removing one when 1 and when 500 are already there (a table of its own).
nft -f - <<'NFT'
table ip berthbench {
  map ports { type inet_proto . inet_service : ipv4_addr . inet_service; }
}
NFT
one() {
  s=$(date +%s%N)
  for k in 1 2 3 4 5 6 7 8 9 10; do
    echo "add element ip berthbench ports { tcp . 65000 : 10.89.0.9 . 80 }" | nft -f -
    echo "delete element ip berthbench ports { tcp . 65000 }" | nft -f -
  done
  e=$(date +%s%N)
  echo "add+remove one container's port with $1 published: $(( (e-s)/10/1000 )) us"
}
echo "add element ip berthbench ports { tcp . 30000 : 10.89.0.2 . 80 }" | nft -f -
one 1
els=$(i=1; while [ $i -lt 500 ]; do printf 'tcp . %d : 10.89.1.%d . 80, ' $((30000+i)) $((i%250+1)); i=$((i+1)); done)
echo "add element ip berthbench ports { ${els%, } }" | nft -f -
one 500
nft delete table ip berthbench
