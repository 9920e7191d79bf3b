# berth: build, test, demo, static/cross builds, benchmarks.
# Every target that runs containers needs root.

CARGO   ?= cargo
PROBE_TARGET := x86_64-unknown-linux-musl
STATIC_TARGETS := x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf
# The daemon and CLI link SQLite's, zstd's and ring's C: static with musl-gcc
# on x86_64, with Debian's cross gcc and a static glibc on aarch64 and armv7.
DAEMON_STATIC_TARGETS := x86_64-unknown-linux-musl aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf
# Cargo's output directory, honouring CARGO_TARGET_DIR.
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
RUNTIME := $(TARGET_DIR)/release/berth-runtime
SHIM    := $(TARGET_DIR)/release/berth-shim
BERTHD  := $(TARGET_DIR)/release/berthd
BERTH   := $(TARGET_DIR)/release/berth
PROBE   := $(TARGET_DIR)/$(PROBE_TARGET)/release/berth-probe
DEMO_DIR ?= /tmp/berth-demo
# Image fixtures and their registries (../shared/fixtures), for the image tests.
BERTH_FIXTURES ?= /tmp/oci-fixtures
# The fixture scripts: ../shared/fixtures next to the checkout (DESIGN.md), or
# the project machines' /work/shared when the checkout lives elsewhere.
FIXTURE_SCRIPTS ?= $(firstword $(wildcard $(abspath $(CURDIR)/../shared/fixtures) /work/shared/fixtures))
BERTH_FIXTURE_SCRIPTS := $(FIXTURE_SCRIPTS)
export BERTH_FIXTURES FIXTURE_SCRIPTS BERTH_FIXTURE_SCRIPTS
# A debootstrapped Debian rootfs for the real-workload test (cached).
DEBIAN_ROOTFS ?= /var/tmp/berth-debian-rootfs
# The throw-away cgroup2 VM of ../shared/vm.
VM ?= $(firstword $(wildcard $(abspath $(CURDIR)/../shared/vm/run-in-vm.sh) /work/shared/vm/run-in-vm.sh))

.PHONY: all build probe demo test test-unit test-integration test-v2 test-cross test-compat static bench bench-seccomp bench-pull bench-containers bench-net compat conformance setup clean fixtures-up fixtures-down

all: build

# berth-init (run --init) is bind-mounted into containers of any image, so
# it is built static (musl) and put next to berthd, where berthd looks for it.
build:
	$(CARGO) build --release -p berth-runtime -p berth-shim -p berthd -p berth
	$(CARGO) build --release -p berth-init --target $(PROBE_TARGET)
	cp $(TARGET_DIR)/$(PROBE_TARGET)/release/berth-init $(TARGET_DIR)/release/berth-init

probe:
	$(CARGO) build --release -p berth-probe --target $(PROBE_TARGET)

# Builds the runtime, makes a busybox bundle from Debian's busybox-static
# and runs it with --explain: every kernel step, with the reason for it.
demo: build
	scripts/demo.sh $(RUNTIME) $(DEMO_DIR)
	scripts/demo-daemon.sh $(TARGET_DIR)/release

# Installs what the tests need (Debian packages, Rust targets).
setup:
	scripts/setup.sh

test: test-unit test-integration test-v2 test-cross test-compat

test-unit:
	$(CARGO) test --workspace --exclude berth-integration-tests

# Starts the fixture registries, runs every end-to-end test, and stops the
# registries again whatever the result.
test-integration: build probe
	scripts/debian-rootfs.sh $(DEBIAN_ROOTFS)
	scripts/fixtures.sh up
	status=0; BERTH_RUNTIME=$(RUNTIME) BERTH_PROBE=$(PROBE) BERTH_SHIM=$(SHIM) BERTHD=$(BERTHD) BERTH=$(BERTH) BERTH_DEBIAN_ROOTFS=$(DEBIAN_ROOTFS) \
	  $(CARGO) test --release -p berth-integration-tests -- --test-threads=2 || status=$$?; \
	  scripts/fixtures.sh down; exit $$status

fixtures-up:
	scripts/fixtures.sh up

fixtures-down:
	scripts/fixtures.sh down

# The runtime's integration tests again, inside a pure cgroup2 VM
# (../shared/vm): the host is hybrid, so this is where v2 (eBPF devices,
# cgroup.freeze, memory.max) is proven.
test-v2: build probe
	scripts/test-v2.sh "$(VM)" $(RUNTIME) $(PROBE)

# The unit tests of the aarch64 and armv7 builds, run under qemu-user-static
# (qemu-user has no openat2: the unpacker's fallback path is what runs there),
# then the static cross berthd pulling the multiarch fixture for its own platform.
test-cross:
	$(CARGO) test -p berth-runtime --lib --target aarch64-unknown-linux-musl
	$(CARGO) test -p berth-runtime --lib --target armv7-unknown-linux-gnueabihf
	$(CARGO) test -p oci-image --lib --target aarch64-unknown-linux-musl
	$(CARGO) test -p oci-image --lib --target armv7-unknown-linux-gnueabihf
	$(CARGO) build --release -p berthd -p berth --target aarch64-unknown-linux-gnu --target armv7-unknown-linux-gnueabihf
	scripts/cross-daemon.sh $(TARGET_DIR)

test-compat: build
	scripts/compat.sh $(RUNTIME)

static:
	@for t in $(STATIC_TARGETS); do \
	  $(CARGO) build --release -p berth-runtime -p berth-shim --target $$t || exit 1; \
	  ls -l $(TARGET_DIR)/$$t/release/berth-runtime $(TARGET_DIR)/$$t/release/berth-shim; \
	done
	@for t in $(DAEMON_STATIC_TARGETS); do \
	  $(CARGO) build --release -p berthd -p berth --target $$t || exit 1; \
	  ls -l $(TARGET_DIR)/$$t/release/berthd $(TARGET_DIR)/$$t/release/berth; \
	done

bench: build bench-seccomp
	scripts/bench.sh $(RUNTIME)
	$(MAKE) bench-pull
	$(MAKE) bench-containers
	$(MAKE) bench-net

# Containers under berthd, podman and docker (dockerd started by the script):
# run, exec, stop, 50 in parallel, per-container monitor PSS, idle daemon RSS.
bench-containers: build
	scripts/fixtures.sh up
	status=0; scripts/bench-containers.sh $(BERTHD) $(BERTH) || status=$$?; \
	  scripts/fixtures.sh down; exit $$status

# Networking under berthd, podman and docker (default bridge, a user network,
# 50 containers with a published port each, per-container rule cost at 1 and 500).
bench-net: build
	scripts/fixtures.sh up
	status=0; scripts/bench-net.sh $(BERTHD) $(BERTH) || status=$$?; \
	  scripts/fixtures.sh down; exit $$status

# The seccomp filter's cost: compile + install, and per-syscall overhead.
bench-seccomp: build probe
	$(CARGO) build --release -p berth-runtime --example seccomp_bench
	scripts/bench-seccomp.py $(RUNTIME) $(PROBE) $(TARGET_DIR)/release/examples/seccomp_bench

# Pull + unpack into tmpfs: berthd vs podman vs tar -x of the blobs.
bench-pull: build
	scripts/fixtures.sh up
	status=0; scripts/bench-pull.sh $(BERTHD) $(BERTH) && FS=ext4 scripts/bench-pull.sh $(BERTHD) $(BERTH) || status=$$?; \
	  scripts/fixtures.sh down; exit $$status

# The runtime under real clients: podman and containerd's ctr.
compat: build
	scripts/compat.sh $(RUNTIME)

# A measurement, not a test: opencontainers/runtime-tools' validation suite
# against berth-runtime and runc (docs/conformance.md). Not part of make test.
conformance: build
	scripts/conformance.sh $(RUNTIME)

clean:
	$(CARGO) clean
