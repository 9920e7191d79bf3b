#!/bin/sh
# make bench: see scripts/bench.py.
set -eu
exec python3 "$(dirname "$0")/bench.py" --berth "${1:-target/release/berth-runtime}"
