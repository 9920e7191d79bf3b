#!/bin/sh
# Installs everything `make demo` and `make test` need on Debian 12, as root.
# musl-tools: musl-gcc compiles the bundled SQLite for the static x86_64 berthd;
# python3 and curl: the image fixtures and their registries (scripts/fixtures.sh).
set -eu
need=""
for p in busybox-static qemu-user-static gcc-arm-linux-gnueabihf libc6-dev-armhf-cross gcc-aarch64-linux-gnu libc6-dev-arm64-cross file iproute2 nftables sqlite3 procps debootstrap musl-tools python3 curl openssl; do
  dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
if [ -n "$need" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need
fi
# The docker CLI for the compatibility tests (integration-tests/tests/docker_cli.rs)
# and dockerd for the benchmarks: Debian's docker.io, installed without letting
# its daemon start (a test starts one when it needs one).
if ! command -v dockerd >/dev/null 2>&1; then
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io
  if [ "$own_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf
