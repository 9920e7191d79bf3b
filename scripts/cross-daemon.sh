#!/bin/sh
# The static aarch64 and armv7 berthd and berth, run under qemu-user-static:
# each starts on its own socket and data root, pulls the multiarch fixture
# without --platform, and must have picked its own platform from the index
# (arm64/v8, arm/v7). Starts the fixture registries when they are not up.
#
#   scripts/cross-daemon.sh TARGET_DIR
set -eu
cd "$(dirname "$0")/.."
TD=$1
started=0
if [ -z "$(ss -Hltn 'sport = :5000' 2>/dev/null)" ]; then
  scripts/fixtures.sh up
  started=1
fi
work=$(mktemp -d /tmp/berth-cross-XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
  [ "$started" = 1 ] && scripts/fixtures.sh down || true
}
trap cleanup EXIT
status=0
for spec in aarch64-unknown-linux-gnu:qemu-aarch64-static:arm64/v8 armv7-unknown-linux-gnueabihf:qemu-arm-static:arm/v7; do
  target=${spec%%:*}; rest=${spec#*:}; qemu=${rest%%:*}; want=${rest#*:}
  bin=$TD/$target/release
  file "$bin/berthd" | grep -q "statically linked" || { echo "cross-daemon: $bin/berthd is not static" >&2; status=1; continue; }
  d=$work/$target
  mkdir -p "$d"
  $qemu "$bin/berthd" --data-root "$d/root" --exec-root "$d/run" -H "unix://$d/s.sock" 2>"$d/log" &
  pid=$!
  for _ in $(seq 100); do [ -S "$d/s.sock" ] && break; sleep 0.1; done
  got=$($qemu "$bin/berth" -H "unix://$d/s.sock" pull -q 127.0.0.1:5000/multiarch >/dev/null &&
        $qemu "$bin/berth" -H "unix://$d/s.sock" image inspect -f '{{.Architecture}}/{{.Variant}}' 127.0.0.1:5000/multiarch) || got="failed: $(tail -3 "$d/log")"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  if [ "$got" = "$want" ]; then
    echo "cross-daemon: $target berthd ($(stat -c %s "$bin/berthd") bytes) pulled multiarch as $got"
  else
    echo "cross-daemon: $target: wanted $want, got $got" >&2
    status=1
  fi
done
exit $status
