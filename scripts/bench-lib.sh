# Shared by bench-containers.sh and bench-net.sh (bash): installing without
# starting daemons, the three engines' wrappers in $W, and the timing helpers.

# Installs a package without letting it start its daemon (docker.io's would).
need() {
  command -v "$1" >/dev/null && return 0
  local own=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; own=1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"
  if [ "$own" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}

# $W/b, $W/d, $W/p: berth, docker and podman on the bench's own sockets and
# roots (files, so xargs can run them in parallel too), and b, d, p.
engine_wrappers() {
  printf '#!/bin/sh\nBERTH_HOST=unix://%s/berth.sock DOCKER_CONFIG=%s/none exec %s "$@"\n' "$W" "$W" "$BERTH" >"$W/b"
  printf '#!/bin/sh\nDOCKER_HOST=unix://%s/docker.sock DOCKER_CONFIG=%s/none exec docker "$@"\n' "$W" "$W" >"$W/d"
  # crun refuses this host's hybrid cgroups: podman runs runc here.
  printf '#!/bin/sh\nCONTAINERS_CONF=%s/containers.conf exec podman --runtime runc --root %s/podman/root --runroot %s/podman/run --storage-driver overlay "$@"\n' "$W" "$W" "$W" >"$W/p"
  chmod +x "$W/b" "$W/d" "$W/p"
  cat >"$W/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
}
b() { "$W/b" "$@"; }
d() { "$W/d" "$@"; }
p() { "$W/p" "$@"; }

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }
timed() { local t0 t1; t0=$(now); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@" >&2 || true; return 1; }; t1=$(now); echo $(( (t1 - t0) / 1000000 )); }
waitsock() { for _ in $(seq 500); do [ -S "$1" ] && return 0; sleep 0.02; done; echo "no socket $1" >&2; return 1; }
