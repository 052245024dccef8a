#!/usr/bin/env bash
# The main job, from a fresh machine: install the system libraries, build Aegis in
# release mode, and start a single-node server on 127.0.0.1:9090 with its data in
# ./aegis-data (Ctrl-C stops it; run it again and it recovers from that directory).
# Extra arguments go to `aegis server` (see `aegis server --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
swift build -c release
exec .build/release/aegis server "$@"
