#!/usr/bin/env bash
# make bench-pull: pull + unpack of fixture images into a fresh tmpfs, by
# berthd, by podman (fresh --root), and by plain `tar -x` of the layer blobs
# (the floor: decompress and create the files, nothing else). Best of $RUNS.
# FS=ext4 uses a fresh loop-mounted ext4 per run instead of tmpfs.
#
#   scripts/bench-pull.sh /abs/berthd /abs/berth
#
# Needs the fixture registries up (scripts/fixtures.sh up; make bench-pull
# does it). Images: $IMAGES, default the debian fixtures when they were built
# (SKIP_DEBIAN=0), else the biggest small ones.
set -euo pipefail
BERTHD=${1:?usage: bench-pull.sh /abs/berthd /abs/berth}
BERTH=${2:?usage: bench-pull.sh /abs/berthd /abs/berth}
FX=${BERTH_FIXTURES:-/tmp/oci-fixtures}
REG=${BERTH_REGISTRY:-127.0.0.1:5000}
RUNS=${RUNS:-3}
if [ -z "${IMAGES:-}" ]; then
  if jq -e '."debian:bookworm"' "$FX/fixtures.json" >/dev/null 2>&1; then
    IMAGES="debian:bookworm debian:bookworm-zstd"
  else
    IMAGES="layers:latest busybox:latest busybox:zstd"
  fi
fi
command -v podman >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman; }
command -v jq >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq; }

W=$(mktemp -d /tmp/berth-bench-pull.XXXXXX)
DPID=""
cleanup() {
  set +e
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  grep " $W" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount "$m" || umount -l "$m"; done
  rm -rf "$W"
}
trap cleanup EXIT

cat >"$W/containers.conf" <<'CONF'
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$W/containers.conf"

now() { date +%s%N; }
FS=${FS:-tmpfs}
fresh() { # fresh DIR: an empty filesystem there, tmpfs or (FS=ext4) a new loop-mounted ext4
  mountpoint -q "$1" && umount "$1"
  mkdir -p "$1"
  case "$FS" in
    tmpfs) mount -t tmpfs -o size=2g tmpfs "$1" ;;
    ext4)
      rm -f "$1.img"; truncate -s 3G "$1.img"
      mkfs.ext4 -q -F "$1.img" >/dev/null
      mount -o loop "$1.img" "$1" ;;
    *) echo "FS must be tmpfs or ext4" >&2; exit 2 ;;
  esac
}
ms() { echo $(( ($2 - $1) / 1000000 )); }

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

berth_pull() { # berth_pull IMAGE -> ms
  fresh "$W/berth"
  "$BERTHD" --data-root "$W/berth/root" -H "unix://$W/berthd.sock" --config-file "$W/daemon.json" >"$W/berthd.log" 2>&1 &
  DPID=$!
  for _ in $(seq 200); do [ -S "$W/berthd.sock" ] && break; sleep 0.02; done
  rss_kb "$DPID" >"$W/idle.rss"
  local t0 t1
  t0=$(now)
  BERTH_HOST="unix://$W/berthd.sock" DOCKER_CONFIG="$W/none" "$BERTH" pull -q "$REG/$1" >/dev/null
  t1=$(now)
  rss_kb "$DPID" >"$W/pull.rss"
  kill "$DPID"; wait "$DPID" 2>/dev/null || true; DPID=""
  ms "$t0" "$t1"
}

podman_pull() {
  fresh "$W/podman"
  local t0 t1
  t0=$(now)
  podman --root "$W/podman/root" --runroot "$W/podman/run" --storage-driver overlay pull -q --tls-verify=false "$REG/$1" >/dev/null 2>"$W/podman.err" || { cat "$W/podman.err" >&2; return 1; }
  t1=$(now)
  podman --root "$W/podman/root" --runroot "$W/podman/run" --storage-driver overlay rmi -af >/dev/null 2>&1 || true
  ms "$t0" "$t1"
}

tar_x() { # every layer blob of IMAGE from the OCI layout, extracted in order
  local name=${1%%:*}
  fresh "$W/tar"
  mkdir -p "$W/tar/root"
  local t0 t1
  t0=$(now)
  jq -r --arg i "$1" '.[$i].layers[] | "\(.mediaType) \(.digest)"' "$FX/fixtures.json" | while read -r mt dg; do
    blob="$FX/oci/$name/blobs/sha256/${dg#sha256:}"
    case "$mt" in
      *zstd) tar --zstd --recursive-unlink -xf "$blob" -C "$W/tar/root" ;;
      *gzip) tar --recursive-unlink -xzf "$blob" -C "$W/tar/root" ;;
      *) tar --recursive-unlink -xf "$blob" -C "$W/tar/root" ;;
    esac
  done
  t1=$(now)
  ms "$t0" "$t1"
}

best() { # best CMD ARGS...: the minimum of $RUNS runs
  local b="" v
  for _ in $(seq "$RUNS"); do
    v=$("$@")
    if [ -z "$b" ] || [ "$v" -lt "$b" ]; then b=$v; fi
  done
  echo "$b"
}

echo '{}' >"$W/daemon.json"
printf '%-24s %10s %10s %10s %14s %14s\n' image "berth ms" "podman ms" "tar -x ms" "berth/tar" "berth/podman"
for img in $IMAGES; do
  b=$(best berth_pull "$img")
  p=$(best podman_pull "$img")
  t=$(best tar_x "$img")
  printf '%-24s %10s %10s %10s %14s %14s\n' "$img" "$b" "$p" "$t" "$(awk -v a="$b" -v c="$t" 'BEGIN{printf "%.2fx", a/c}')" "$(awk -v a="$b" -v c="$p" 'BEGIN{printf "%.2fx", a/c}')"
done
echo "berthd RSS: idle $(cat "$W/idle.rss") kB, after the last pull $(cat "$W/pull.rss") kB"
echo "($FS data roots, fresh for every run; blobs served by the local registry over loopback; best of $RUNS)"
