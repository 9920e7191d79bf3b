#!/bin/sh
# A minimal Debian bookworm rootfs for the "real workload" tests (the
# default seccomp profile and capabilities must let apt-get and dpkg work).
# Built once with debootstrap from the Debian mirror and cached.
# usage: debian-rootfs.sh [DIR]   (default /var/tmp/berth-debian-rootfs)
set -eu
DIR=${1:-/var/tmp/berth-debian-rootfs}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
[ -x "$DIR/usr/bin/apt-get" ] && [ -f "$DIR/.berth-complete" ] && exit 0
command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
rm -rf "$DIR.tmp"
debootstrap --variant=minbase bookworm "$DIR.tmp" "$MIRROR" >/dev/null
# As Debian's images do: no cached packages, no lists.
rm -rf "$DIR.tmp/var/cache/apt/archives/"*.deb "$DIR.tmp/var/lib/apt/lists/"*
touch "$DIR.tmp/.berth-complete"
rm -rf "$DIR"
mv "$DIR.tmp" "$DIR"
