#!/bin/sh
# make demo, second half: berthd on its defaults (data root /var/lib/berth,
# socket /run/berth/berth.sock), a busybox image imported from Debian's
# busybox-static (no registry, no internet), and a container run from it.
# berthd is left running so you can go on typing berth commands; stop it
# with `kill $(cat /run/berth/berthd.pid)` (running containers keep running:
# their shims are not berthd's children).
set -eu
BIN=${1:-target/release}
BERTHD=$BIN/berthd
BERTH=$BIN/berth
SOCK=/run/berth/berth.sock
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] && file -L "$BUSYBOX" 2>/dev/null | grep -q static || {
  apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static file
}
mkdir -p /run/berth
if ! "$BERTH" version >/dev/null 2>&1; then
  echo "== starting berthd (log: /var/log/berthd.log)"
  "$BERTHD" >>/var/log/berthd.log 2>&1 &
  echo $! >/run/berth/berthd.pid
  i=0; until "$BERTH" version >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 250 ] || { tail /var/log/berthd.log; exit 1; }; sleep 0.02; done
fi
if ! "$BERTH" image inspect busybox:latest >/dev/null 2>&1; then
  W=$(mktemp -d /tmp/berth-demo-rootfs.XXXXXX)
  mkdir -p "$W/bin" "$W/etc" "$W/tmp" "$W/root"
  cp "$BUSYBOX" "$W/bin/busybox"
  for a in $("$BUSYBOX" --list); do [ "$a" = busybox ] || ln -sf busybox "$W/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$W/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$W/etc/group"
  echo "== berth import (busybox-static as busybox:latest)"
  tar -C "$W" -czf - . | "$BERTH" import -c 'CMD ["sh"]' -m "Debian busybox-static $("$BUSYBOX" | head -1 | awk '{print $2}')" - busybox:latest
  rm -rf "$W"
fi
echo "== berth run --rm busybox ..."
"$BERTH" run --rm --name berth-demo busybox sh -c 'echo "hello from $(hostname): $(ip -4 -o addr show eth0 2>/dev/null | awk "{print \$4}")"; id'
echo "== berth images"
"$BERTH" images
echo "berthd keeps running (pid $(cat /run/berth/berthd.pid 2>/dev/null || echo '?')): try  $BERTH run -d --name web busybox httpd -f -p 80; $BERTH ps"
