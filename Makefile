# berth: build, test, demo, static/cross builds, benchmarks.
# Every target that runs containers needs root.

CARGO   ?= cargo
PROBE_TARGET := x86_64-unknown-linux-musl
STATIC_TARGETS := x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf
# Builds land where cargo puts them: CARGO_TARGET_DIR when set, else target/.
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
RUNTIME := $(TARGET_DIR)/release/berth-runtime
PROBE   := $(TARGET_DIR)/$(PROBE_TARGET)/release/berth-probe
DEMO_DIR ?= /tmp/berth-demo

.PHONY: all build probe demo test test-unit test-integration test-v2 test-cross test-compat static bench bench-seccomp compat conformance setup clean

all: build

build:
	$(CARGO) build --release -p berth-runtime -p berth-shim

probe:
	$(CARGO) build --release -p berth-probe --target $(PROBE_TARGET)

# Builds the runtime, makes a busybox bundle from Debian's busybox-static
# and runs it with --explain: every kernel step, with the reason for it.
demo: build
	scripts/demo.sh $(abspath $(RUNTIME)) $(DEMO_DIR)

# Installs what the tests need (Debian packages, Rust targets).
setup:
	scripts/setup.sh

test: test-unit test-integration test-v2 test-cross test-compat

test-unit:
	$(CARGO) test --workspace --exclude berth-integration-tests

DEBIAN_ROOTFS ?= /var/tmp/berth-debian-rootfs
test-integration: build probe
	scripts/debian-rootfs.sh $(DEBIAN_ROOTFS)
	BERTH_RUNTIME=$(abspath $(RUNTIME)) BERTH_PROBE=$(abspath $(PROBE)) BERTH_SHIM=$(abspath $(TARGET_DIR)/release/berth-shim) BERTH_DEBIAN_ROOTFS=$(DEBIAN_ROOTFS) \
	  $(CARGO) test --release -p berth-integration-tests -- --test-threads=2

# The cgroup tests again, inside a pure cgroup2 VM (../shared/vm): the
# host is hybrid, so this is where v2 (eBPF devices, cgroup.freeze,
# memory.max) is proven.
VM ?= $(CURDIR)/../shared/vm/run-in-vm.sh
test-v2: build probe
	scripts/test-v2.sh "$(VM)" $(abspath $(RUNTIME)) $(abspath $(PROBE))

# The unit tests of the aarch64 and armv7 builds, run under qemu-user-static.
test-cross:
	$(CARGO) test -p berth-runtime --lib --target aarch64-unknown-linux-musl
	$(CARGO) test -p berth-runtime --lib --target armv7-unknown-linux-gnueabihf

test-compat: build
	scripts/compat.sh $(abspath $(RUNTIME))

static:
	@for t in $(STATIC_TARGETS); do \
	  $(CARGO) build --release -p berth-runtime --target $$t || exit 1; \
	  ls -l $(TARGET_DIR)/$$t/release/berth-runtime; \
	done

bench: build bench-seccomp
	scripts/bench.sh $(abspath $(RUNTIME))

# The seccomp filter's cost: compile + install, and per-syscall overhead.
bench-seccomp: build probe
	$(CARGO) build --release -p berth-runtime --example seccomp_bench
	scripts/bench-seccomp.py $(abspath $(RUNTIME)) $(abspath $(PROBE)) $(abspath $(TARGET_DIR)/release/examples/seccomp_bench)

# The runtime under real clients: podman and containerd's ctr.
compat: build
	scripts/compat.sh $(abspath $(RUNTIME))

# A measurement, not a test: opencontainers/runtime-tools' validation suite
# against berth-runtime and runc (docs/conformance.md). Not part of make test.
conformance: build
	scripts/conformance.sh $(abspath $(RUNTIME))

clean:
	$(CARGO) clean
