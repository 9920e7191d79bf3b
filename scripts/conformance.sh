#!/bin/bash
# make conformance: berth-runtime (and runc, for comparison) measured by
# opencontainers/runtime-tools' validation suite (validation/*/*.go, each a
# Go program that writes a config, drives the runtime and prints TAP).
#
#   scripts/conformance.sh /abs/path/berth-runtime [test ...]
#
# Offline: the suite's source is Debian's (the source package of
# golang-github-opencontainers-runtime-tools; bookworm's orig tarball is
# gone from the mirror, trixie's is there), built in GOPATH mode against
# Debian's golang-*-dev packages, plus scripts/conformance/tap.go in place
# of github.com/mndrix/tap-go, which Debian does not package. The build is
# cached in $CACHE (sources, binaries); a run's bundles, containers and
# logs live in a scratch directory that is removed at the end. Environment:
#   CACHE=/var/tmp/berth-conformance   build cache (kept between runs)
#   TEST_TIMEOUT=60                    seconds per test
#   RUNC=runc                          the reference runtime ("" to skip it)
#   KEEP_LOGS=dir                      copy every test's TAP output there
set -u
RUNTIME=${1:?usage: conformance.sh /abs/path/berth-runtime [test ...]}
shift
case $RUNTIME in /*) ;; *) RUNTIME=$(pwd)/$RUNTIME ;; esac
[ -x "$RUNTIME" ] || { echo "conformance: $RUNTIME is not executable" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "conformance: needs root" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${CACHE:-/var/tmp/berth-conformance}
TEST_TIMEOUT=${TEST_TIMEOUT:-60}
RUNC=${RUNC-runc}
RT_VERSION=0.9.0.109.ge931285-1
RT_ORIG=golang-github-opencontainers-runtime-tools_0.9.0.109.ge931285.orig.tar.xz
RT_SHA256=203989a1ea98cf2aaced79155bbda09270b20db19b03376dde91ab12e5e6a0fe
SRCLIST=/etc/apt/sources.list.d/berth-conformance-src.sources

apt_install() {
  local missing=
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  [ -z "$missing" ] && return 0
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
}

# --- 1. packages: Go, the suite's Go dependencies, busybox, runc ----------
apt_install golang-go busybox-static runc \
  golang-github-opencontainers-specs-dev golang-github-google-uuid-dev \
  golang-github-hashicorp-go-multierror-dev golang-github-mrunalp-fileutils-dev \
  golang-github-opencontainers-selinux-dev golang-github-sirupsen-logrus-dev \
  golang-gocapability-dev golang-github-urfave-cli-dev golang-github-xeipuuv-gojsonschema-dev \
  golang-golang-x-sys-dev golang-github-blang-semver-dev golang-gopkg-yaml.v2-dev \
  || { echo "conformance: apt-get install failed" >&2; exit 1; }

# --- 2. the suite's source, from Debian's source package ------------------
GOPATH_DIR=$CACHE/gopath
RT=$GOPATH_DIR/src/github.com/opencontainers/runtime-tools
mkdir -p "$CACHE"
if [ ! -f "$RT/validation/util/test.go" ]; then
  if [ ! -f "$CACHE/$RT_ORIG" ]; then
    # apt-get source needs deb-src lines; added in a file of our own and
    # removed again afterwards.
    cat > "$SRCLIST" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt-get update -qq >/dev/null 2>&1
    (cd "$CACHE" && apt-get source -qq --download-only "golang-github-opencontainers-runtime-tools=$RT_VERSION" >/dev/null 2>&1)
    rm -f "$SRCLIST"; apt-get update -qq >/dev/null 2>&1
  fi
  echo "$RT_SHA256  $CACHE/$RT_ORIG" | sha256sum -c --quiet - \
    || { echo "conformance: could not get $RT_ORIG (apt-get source golang-github-opencontainers-runtime-tools=$RT_VERSION)" >&2; exit 1; }
  rm -rf "$RT" && mkdir -p "$RT"
  tar -C "$RT" --strip-components=1 -xf "$CACHE/$RT_ORIG"
fi
mkdir -p "$GOPATH_DIR/src/github.com/mndrix/tap-go"
cp "$HERE/conformance/tap.go" "$GOPATH_DIR/src/github.com/mndrix/tap-go/tap.go"

# --- 3. build: runtimetest (static, it runs inside the container) and the tests
export GO111MODULE=off GOFLAGS= GOPATH=$GOPATH_DIR:/usr/share/gocode GOCACHE=$CACHE/gocache
BIN=$CACHE/bin
mkdir -p "$BIN"
ALL_TESTS=$(cd "$RT/validation" && ls -d */ | tr -d / | grep -v '^util$')
TESTS=${*:-$ALL_TESTS}
(
  cd "$RT" || exit 1
  CGO_ENABLED=0 go build -tags "netgo osusergo" -o "$BIN/runtimetest" ./cmd/runtimetest || exit 1
  for t in $TESTS; do
    [ -x "$BIN/$t.t" ] && [ "$BIN/$t.t" -nt "validation/$t/$t.go" ] && continue
    go build -o "$BIN/$t.t" "./validation/$t" || exit 1
  done
) || { echo "conformance: build failed" >&2; exit 1; }

# --- 4. scratch: the rootfs tarball the suite untars into each bundle -----
W=$(mktemp -d /tmp/berth-conformance.XXXXXX)
# The bundles live under $W/tmp: a container whose root is a user
# namespace's root (linux_uid_mappings, linux_ns_nopath) must be able to
# walk there, and mktemp made $W 0700.
chmod 755 "$W"
# Cgroups the suite made: its paths are /cgrouptest and testdir/cgrouptest/
# container (relative, under our own cgroup), else /<uuid>. A runtime
# removes the leaf on delete; runc leaves testdir/cgrouptest behind. Only
# directories that appeared during this run and carry those names are
# removed (rmdir: an empty cgroup only), deepest first.
cgroup_dirs() { find /sys/fs/cgroup -mindepth 2 -type d 2>/dev/null | sort; }
UUID_RE='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
clean_cgroups() {
  [ -f "$W/cgroups.before" ] || return 0
  cgroup_dirs | comm -13 "$W/cgroups.before" - | grep -E "/(testdir|cgrouptest)(/|$)|/$UUID_RE\$" | sort -r |
    while read -r d; do rmdir "$d" 2>/dev/null; done
}
cleanup() {
  set +e
  # Containers a test left behind, in either runtime's state directory.
  for r in "$RUNTIME" $RUNC; do
    for st in "$W/state-berth" "$W/state-runc"; do
      [ -d "$st" ] || continue
      for id in $(ls "$st" 2>/dev/null); do
        "$r" --root "$st" kill "$id" KILL >/dev/null 2>&1
        "$r" --root "$st" delete -f "$id" >/dev/null 2>&1
      done
    done
  done
  grep " $W" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
  clean_cgroups
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cgroup_dirs > "$W/cgroups.before"

R=$W/rootfs
mkdir -p "$R/bin" "$R/sbin" "$R/usr/bin" "$R/usr/sbin" "$R/etc" "$R/proc" "$R/sys" "$R/dev" "$R/tmp"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list-full); do [ -e "$R/$a" ] || ln -s /bin/busybox "$R/$a"; done
cat > "$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > "$R/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
tty:x:5:
users:x:100:
nogroup:x:65534:
EOF
RUNDIR=$W/run
mkdir -p "$RUNDIR" "$W/tmp"
tar -C "$R" -czf "$RUNDIR/rootfs-$(go env GOARCH).tar.gz" .
cp "$BIN/runtimetest" "$RUNDIR/runtimetest"

# --- 5. run: each test with its own timeout, against each runtime --------
# A wrapper per runtime gives it a private state directory (--root), so
# that whatever a test leaves behind is found and removed at the end.
mkwrapper() { # name runtime-binary
  printf '#!/bin/sh\nexec %s --root %s "$@"\n' "$2" "$W/state-$1" > "$W/$1"
  chmod +x "$W/$1"; mkdir -p "$W/state-$1"
}
mkwrapper berth "$RUNTIME"
RUNTIMES=berth
if [ -n "$RUNC" ]; then mkwrapper runc "$(command -v "$RUNC")"; RUNTIMES="berth runc"; fi

# tally FILE RC: planned ok notok todo skip, from the test's top-level TAP
# lines. Some tests print no test point at all: the *_fail ones expect the
# runtime to refuse the config (they exit 0 quietly when it does, and 1 when
# it does not), and the hook tests print "1..0" plus a YAML "error:" block
# when the hooks misbehave. Such a test counts as one assertion: ok when it
# exits 0 with no error block.
tally() {
  awk -v rc="$2" '
    /^1\.\.[0-9]+/ { split($0, a, "\\.\\."); plan = a[2] + 0 }
    /^  error: / && $0 !~ /^  error: ""$/ { yamlerr++ }
    /^ok / || /^not ok / {
      if ($0 ~ /# *[Ss][Kk][Ii][Pp]/) skip++
      else if ($0 ~ /# *TODO/) todo++
      else if ($0 ~ /^ok /) ok++
      else notok++
    }
    END {
      if (ok + notok + todo + skip == 0) {
        plan = 1
        if (rc == 0 && yamlerr == 0) ok = 1; else notok = 1
      }
      printf "%d %d %d %d %d\n", plan, ok, notok, todo, skip
    }' "$1"
}

LOGS=$W/logs
mkdir -p "$LOGS"
for rt in $RUNTIMES; do
  for t in $TESTS; do
    log=$LOGS/$rt-$t.tap
    (cd "$RUNDIR" && TMPDIR=$W/tmp RUNTIME=$W/$rt timeout -k 5 "$TEST_TIMEOUT" "$BIN/$t.t") >"$log" 2>"$LOGS/$rt-$t.err"
    echo $? > "$LOGS/$rt-$t.rc"
    # What a test leaves (a bundle, a container) is removed before the next.
    for id in $(ls "$W/state-$rt" 2>/dev/null); do
      "$W/$rt" kill "$id" KILL >/dev/null 2>&1; "$W/$rt" delete -f "$id" >/dev/null 2>&1
    done
    grep " $W/tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "${W:?}/tmp/"* 2>/dev/null
    clean_cgroups
  done
done

# --- 6. summary -------------------------------------------------------------
# A test PASSes when it exits 0, every planned assertion ran and none is
# "not ok" (TODO and SKIP lines are neither passes nor failures).
[ -n "${KEEP_LOGS:-}" ] && mkdir -p "$KEEP_LOGS" && cp "$LOGS"/* "$KEEP_LOGS"/
printf '%-36s' test; for rt in $RUNTIMES; do printf ' %-22s' "$rt"; done; echo
declare -A T_OK T_ALL T_PASS
for rt in $RUNTIMES; do T_OK[$rt]=0; T_ALL[$rt]=0; T_PASS[$rt]=0; done
NT=0
for t in $TESTS; do
  NT=$((NT + 1))
  printf '%-36s' "$t"
  for rt in $RUNTIMES; do
    rc=$(cat "$LOGS/$rt-$t.rc")
    read -r plan ok notok todo skip < <(tally "$LOGS/$rt-$t.tap" "$rc")
    ran=$((ok + notok))
    all=$(( plan - todo - skip > ran ? plan - todo - skip : ran ))
    if [ "$rc" = 0 ] && [ "$notok" = 0 ] && [ "$ok" -ge $((plan - todo - skip)) ] && [ $((plan + ok + skip)) -gt 0 ]; then
      verdict=PASS; T_PASS[$rt]=$((T_PASS[$rt] + 1))
    else
      verdict=FAIL
    fi
    [ "$rc" = 124 ] || [ "$rc" = 137 ] && verdict=TIMEOUT
    extra=
    [ "$skip" -gt 0 ] && extra="$extra ${skip}skip"
    [ "$todo" -gt 0 ] && extra="$extra ${todo}todo"
    [ "$rc" != 0 ] && [ "$verdict" != TIMEOUT ] && extra="$extra rc=$rc"
    printf ' %-22s' "$verdict $ok/$all$extra"
    T_OK[$rt]=$((T_OK[$rt] + ok)); T_ALL[$rt]=$((T_ALL[$rt] + all))
  done
  echo
done
echo
for rt in $RUNTIMES; do
  echo "$rt: ${T_OK[$rt]}/${T_ALL[$rt]} TAP assertions ok; ${T_PASS[$rt]}/$NT tests pass"
done
