#!/bin/sh
# The image fixtures and the two local registries the image tests pull from
# (../shared/fixtures/README.md).
#
#   scripts/fixtures.sh up     build the fixtures if missing, start both registries, push
#   scripts/fixtures.sh down   stop the registries this script started (by their PID files)
#
# BERTH_FIXTURES  output directory (default /tmp/oci-fixtures)
# FIXTURE_SCRIPTS where build-fixtures.sh and registry.sh live (default ../shared/fixtures,
#                 else /work/shared/fixtures)
# The debootstrap image (debian, 48.6 MB) is built too, unless SKIP_DEBIAN=1:
# images::debian_unpacks_like_tar and make bench-pull use it.
#
# The registries listen on 127.0.0.1:5000 (plain) and :5001 (basic auth).
# Their ports cannot be moved through registry.sh: distribution reads any
# REGISTRY_* variable as configuration, so REGISTRY_AUTH_PORT breaks it.
set -eu
cd "$(dirname "$0")/.."
OUT=${BERTH_FIXTURES:-/tmp/oci-fixtures}
FX=${FIXTURE_SCRIPTS:-}
if [ -z "$FX" ]; then
  for d in "$(pwd)/../shared/fixtures" /work/shared/fixtures; do
    [ -x "$d/registry.sh" ] && { FX=$d; break; }
  done
fi
[ -x "$FX/registry.sh" ] || { echo "fixtures.sh: $FX/registry.sh not found (set FIXTURE_SCRIPTS)" >&2; exit 1; }

case "${1:-}" in
up)
  # build-fixtures.sh keeps its finished steps, so a fixture set made
  # without debian gets only debian added.
  if [ ! -f "$OUT/fixtures.json" ] || { [ "${SKIP_DEBIAN:-0}" != 1 ] && ! grep -q '"debian:bookworm"' "$OUT/fixtures.json"; }; then
    SKIP_DEBIAN=${SKIP_DEBIAN:-0} "$FX/build-fixtures.sh" "$OUT"
  fi
  for port in 5000 5001; do
    if [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then
      echo "fixtures.sh: 127.0.0.1:$port is already in use; stop that registry first" >&2
      exit 1
    fi
  done
  "$FX/registry.sh" up "$OUT" >"$OUT/registry-up.log" 2>&1 || { cat "$OUT/registry-up.log" >&2; "$FX/registry.sh" stop "$OUT" >/dev/null 2>&1 || true; exit 1; }
  echo "fixture registries up on 127.0.0.1:5000 and 127.0.0.1:5001 (log: $OUT/registry-up.log)"
  ;;
down)
  "$FX/registry.sh" stop "$OUT" >/dev/null 2>&1 || true
  echo "fixture registries stopped"
  ;;
*)
  echo "usage: scripts/fixtures.sh up|down" >&2
  exit 2
  ;;
esac
