# berth: build, test, demo, static/cross builds, benchmarks.
# Every target that runs containers needs root.

CARGO   ?= cargo
PROBE_TARGET := x86_64-unknown-linux-musl
STATIC_TARGETS := x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf
RUNTIME := target/release/berth-runtime
PROBE   := target/$(PROBE_TARGET)/release/berth-probe
DEMO_DIR ?= /tmp/berth-demo

.PHONY: all build probe demo test test-unit test-integration test-v2 test-cross test-compat static bench compat setup clean

all: build

build:
	$(CARGO) build --release -p berth-runtime

probe:
	$(CARGO) build --release -p berth-probe --target $(PROBE_TARGET)

# Builds the runtime, makes a busybox bundle from Debian's busybox-static
# and runs it with --explain: every kernel step, with the reason for it.
demo: build
	scripts/demo.sh $(CURDIR)/$(RUNTIME) $(DEMO_DIR)

# Installs what the tests need (Debian packages, Rust targets).
setup:
	scripts/setup.sh

test: test-unit test-integration test-v2 test-cross test-compat

test-unit:
	$(CARGO) test --workspace --exclude berth-integration-tests

test-integration: build probe
	BERTH_RUNTIME=$(CURDIR)/$(RUNTIME) BERTH_PROBE=$(CURDIR)/$(PROBE) \
	  $(CARGO) test --release -p berth-integration-tests -- --test-threads=2

# The cgroup tests again, inside a pure cgroup2 VM (../shared/vm): the
# host is hybrid, so this is where v2 (eBPF devices, cgroup.freeze,
# memory.max) is proven.
VM ?= $(CURDIR)/../shared/vm/run-in-vm.sh
test-v2: build probe
	scripts/test-v2.sh "$(VM)" $(CURDIR)/$(RUNTIME) $(CURDIR)/$(PROBE)

# The unit tests of the aarch64 and armv7 builds, run under qemu-user-static.
test-cross:
	$(CARGO) test -p berth-runtime --lib --target aarch64-unknown-linux-musl
	$(CARGO) test -p berth-runtime --lib --target armv7-unknown-linux-gnueabihf

test-compat: build
	scripts/compat.sh $(CURDIR)/$(RUNTIME)

static:
	@for t in $(STATIC_TARGETS); do \
	  $(CARGO) build --release -p berth-runtime --target $$t || exit 1; \
	  ls -l target/$$t/release/berth-runtime; \
	done

bench: build
	scripts/bench.sh $(CURDIR)/$(RUNTIME)

# The runtime under real clients: podman and containerd's ctr.
compat: build
	scripts/compat.sh $(CURDIR)/$(RUNTIME)

clean:
	$(CARGO) clean
