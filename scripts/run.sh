#!/usr/bin/env bash
# The main job, from a fresh machine: install system libraries, build Aegis in
# release mode, and run a sample simulation (the smoke scenario, seed 42) followed by
# a short sweep. Later issues turn this into starting the server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
swift build -c release
.build/release/aegis sim run Scenarios/smoke.yaml --seed 42
.build/release/aegis sim sweep Scenarios/everything.yaml --seeds 1..100
