#!/bin/sh
# make demo: a busybox container, narrated step by step.
set -eu
RUNTIME=${1:-target/release/berth-runtime}
DIR=${2:-/tmp/berth-demo}
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] && "$BUSYBOX" --list >/dev/null 2>&1 && file -L "$BUSYBOX" 2>/dev/null | grep -q static || {
  command -v apt-get >/dev/null && { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static; }
}
rm -rf "$DIR"
mkdir -p "$DIR/rootfs/bin" "$DIR/rootfs/proc" "$DIR/rootfs/sys" "$DIR/rootfs/dev" "$DIR/rootfs/etc" "$DIR/rootfs/tmp"
cp "$BUSYBOX" "$DIR/rootfs/bin/busybox"
for a in $("$BUSYBOX" --list); do [ "$a" = busybox ] || ln -sf busybox "$DIR/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$DIR/rootfs/etc/passwd"
cd "$DIR"
"$RUNTIME" spec
# Not a terminal (so the demo runs anywhere), and a command that shows the container from inside.
sed -i 's/"terminal": true/"terminal": false/' config.json
sed -i 's|"sh"$|"sh", "-c", "echo; echo \\"inside: hostname=$(hostname) pid=$$ uid=$(id -u)\\"; ls /; cat /proc/self/status \| grep ^Cap"|' config.json
id="berth-demo-$$"
echo "== berth-runtime --explain run $id (bundle $DIR)"
"$RUNTIME" --explain run "$id"
