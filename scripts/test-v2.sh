#!/bin/sh
# Runs the integration tests inside a throw-away VM whose /sys/fs/cgroup
# is pure cgroup2 (the host here is hybrid): the lifecycle, process and
# rootfs tests again, and the cgroup tests, which is where v2 (eBPF device
# control, cgroup.freeze, memory.max, cgroup.kill) is proven. The test
# binaries are built on the host; the VM sees this tree at the same path.
set -eu
VM=${1:?usage: test-v2.sh RUN-IN-VM RUNTIME PROBE}
RUNTIME=$2
PROBE=$3
cd "$(dirname "$0")/.."
BINS=$(cargo test --release -p berth-integration-tests --tests --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')
[ -n "$BINS" ] || { echo "test-v2: could not build the integration test binaries"; exit 1; }
# The Debian workload test needs a 130 MB rootfs the VM does not have; it
# tests seccomp and capabilities, which do not depend on the cgroup version,
# and runs on the host in test-integration.
# The image and container tests (images, hostile_registry, containers) test berthd against registries
# on the host's 127.0.0.1, which the VM cannot reach; nothing in them
# depends on cgroups.
BINS=$(echo "$BINS" | grep -v -e '/debian_workload-' -e '/images-' -e '/hostile_registry-' -e '/containers-')
RUN=$(mktemp /tmp/berth-v2.XXXXXX.sh)
trap 'rm -f "$RUN"' EXIT
{
  echo 'set -e; rc=0'
  for b in $BINS; do echo "echo \"== \$(basename $b)\"; $b --test-threads=1 || rc=1"; done
  echo 'exit $rc'
} > "$RUN"
cp "$RUN" target/.test-v2.sh
"$VM" --share "$PWD" --timeout 900 \
  --env BERTH_RUNTIME="$RUNTIME" --env BERTH_PROBE="$PROBE" --env RUST_BACKTRACE=1 \
  -- sh "$PWD/target/.test-v2.sh"
