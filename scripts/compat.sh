#!/bin/sh
# make compat: berth-runtime under real clients, podman (--runtime) and
# containerd's ctr (--runc-binary). Everything lives in a scratch
# directory and is removed at the end, daemons included.
set -eu
RUNTIME=${1:?usage: compat.sh /abs/path/berth-runtime}
W=$(mktemp -d /tmp/berth-compat.XXXXXX)
ID=berth-compat-$$
for p in podman containerd; do
  command -v $p >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman containerd; break; }
done
[ -x /bin/busybox ] || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static; }

cleanup() {
  set +e
  [ -n "${P:-}" ] && $P rm -af >/dev/null 2>&1
  [ -f "$W/containerd.pid" ] && kill "$(cat "$W/containerd.pid")" 2>/dev/null && sleep 1
  grep " $W" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$W"
  # podman (cgroupfs manager) parks conmon in /libpod_parent/conmon and leaves it; remove it if empty.
  find /sys/fs/cgroup -maxdepth 3 -depth -type d -path '*/libpod_parent*' -exec rmdir {} \; 2>/dev/null
}
trap cleanup EXIT

# A busybox image, made locally: no registry is reachable.
mkdir -p "$W/rootfs/bin" "$W/rootfs/etc" "$W/rootfs/proc" "$W/rootfs/sys" "$W/rootfs/dev" "$W/rootfs/tmp"
cp /bin/busybox "$W/rootfs/bin/"
for a in sh echo id sleep cat tty grep mkdir; do ln -s busybox "$W/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$W/rootfs/etc/passwd"
tar -C "$W/rootfs" -cf "$W/rootfs.tar" .

# podman wants cgroupfs and file events on this host (no systemd), and
# the nofile limit root really has.
cat > "$W/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
# No network: this tests the runtime, and podman's bridge would leave
# netavark's firewall chains and /run/netns behind on the host.
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$W/containers.conf"
P="podman --root $W/storage --runroot $W/run --runtime $RUNTIME"
$P import "$W/rootfs.tar" localhost/berth-compat:latest >/dev/null 2>&1
# podman's own default seccomp profile (most of the features: ERRNO with
# errnoRet, argument filters with MASKED_EQ, x86_64/x86/x32): a real-world test.
out=$($P run --rm localhost/berth-compat echo ok)
[ "$out" = ok ] || { echo "podman run: got '$out'"; exit 1; }
echo "podman run --rm ... echo ok: $out"
$P run -d --name "$ID" localhost/berth-compat sleep 100 >/dev/null
[ "$($P exec "$ID" sh -c 'grep ^Seccomp: /proc/self/status')" = "$(printf 'Seccomp:\t2')" ] || { echo "podman exec: no seccomp filter"; exit 1; }
[ "$($P exec "$ID" echo exec-ok)" = exec-ok ]
$P pause "$ID" >/dev/null && [ "$($P inspect -f '{{.State.Status}}' "$ID")" = paused ]
$P unpause "$ID" >/dev/null && [ "$($P inspect -f '{{.State.Status}}' "$ID")" = running ]
$P rm -f -t 0 "$ID" >/dev/null
echo "podman run -d / exec / pause / unpause / rm -f: ok"
# Resource flags reach the cgroup: -m and --pids-limit as podman writes them into config.json.
$P run -d --name "$ID-lim" -m 64m --pids-limit 50 localhost/berth-compat sleep 100 >/dev/null
CGPID=$($P inspect -f '{{.State.Pid}}' "$ID-lim")
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  D=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/$CGPID/cgroup); MEM=$D/memory.max; PIDS=$D/pids.max
else
  MEM=/sys/fs/cgroup/memory$(sed -n 's/^[0-9]*:memory://p' /proc/$CGPID/cgroup)/memory.limit_in_bytes
  PIDS=/sys/fs/cgroup/pids$(sed -n 's/^[0-9]*:pids://p' /proc/$CGPID/cgroup)/pids.max
fi
[ "$(cat "$MEM")" = 67108864 ] || { echo "podman -m 64m: $MEM is $(cat "$MEM")"; exit 1; }
[ "$(cat "$PIDS")" = 50 ] || { echo "podman --pids-limit 50: $PIDS is $(cat "$PIDS")"; exit 1; }
$P rm -f -t 0 "$ID-lim" >/dev/null
echo "podman run -m 64m --pids-limit 50: limits in the cgroup: ok"
# A profile of our own through podman: its rules take effect.
cat > "$W/profile.json" <<'JSON'
{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
JSON
if $P run --rm --security-opt seccomp="$W/profile.json" localhost/berth-compat mkdir /tmp/x 2>"$W/err"; then echo "mkdir should be refused by the profile"; exit 1; fi
grep -q "Permission denied" "$W/err" || { cat "$W/err"; exit 1; }
out=$($P run --rm --security-opt seccomp=unconfined localhost/berth-compat sh -c 'grep ^Seccomp: /proc/self/status')
[ "$out" = "$(printf 'Seccomp:\t0')" ] || { echo "seccomp=unconfined: got '$out'"; exit 1; }
echo "podman seccomp: default profile, a custom profile (mkdir -> EACCES), unconfined: ok"

# containerd: a private daemon on a private socket.
$P save --format docker-archive -o "$W/image.tar" localhost/berth-compat:latest >/dev/null 2>&1
cat > "$W/containerd.toml" <<CONF
version = 2
root = "$W/containerd-root"
state = "$W/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$W/containerd.sock"
CONF
containerd --config "$W/containerd.toml" >"$W/containerd.log" 2>&1 &
echo $! > "$W/containerd.pid"
C="ctr -a $W/containerd.sock -n berth-compat"
for i in $(seq 50); do $C version >/dev/null 2>&1 && break; sleep 0.1; done
$C images import "$W/image.tar" >/dev/null
# --seccomp: containerd's default profile.
out=$($C run --rm --seccomp --runc-binary "$RUNTIME" localhost/berth-compat:latest "$ID-ctr" sh -c 'grep -q "^Seccomp:.2" /proc/self/status && echo ok')
[ "$out" = ok ] || { echo "ctr run: got '$out'"; exit 1; }
echo "ctr run --rm --seccomp --runc-binary ... (filtered) echo ok: $out"
$C run -d --runc-binary "$RUNTIME" localhost/berth-compat:latest "$ID-ctr2" sleep 100
[ "$($C task exec --exec-id e1 "$ID-ctr2" echo exec-ok)" = exec-ok ]
$C task kill -s KILL "$ID-ctr2"
for i in $(seq 50); do $C task ls | grep -q "$ID-ctr2.*STOPPED" && break; sleep 0.1; done
$C task rm "$ID-ctr2" >/dev/null
$C containers rm "$ID-ctr2"
echo "ctr run -d / task exec / kill / rm: ok"
