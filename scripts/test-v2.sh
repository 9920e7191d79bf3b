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
# Only the runtime's and the shim's tests run here: they are the ones whose
# behaviour depends on the cgroup version. The Debian workload test needs a
# 130 MB rootfs the VM does not have (it tests seccomp and capabilities, which
# do not depend on the cgroup version). Every berthd test (images, import,
# containers, exec, network, hostile_registry ...) needs the fixture
# registries on the host's 127.0.0.1, which the VM cannot reach, and host
# tools (python3, nft) the VM image lacks; they run on the host in
# test-integration. An allow list, so a new daemon test cannot break this.
V2_TESTS="lifecycle process rootfs cgroups seccomp mounts_idmap shim"
KEEP=""
for b in $BINS; do
  name=$(basename "$b" | sed 's/-[0-9a-f]*$//')
  for t in $V2_TESTS; do if [ "$name" = "$t" ]; then KEEP="$KEEP $b"; fi; done
done
BINS=$KEEP
[ -n "$BINS" ] || { echo "test-v2: none of the cgroup2 test binaries were built"; exit 1; }
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
