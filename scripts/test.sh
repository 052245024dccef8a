#!/usr/bin/env bash
# The whole test suite, from a fresh machine: system libraries, the determinism lint,
# a release build, the unit/simulation/CLI tests, seed sweeps of every shipped
# scenario, sweeps that must catch each planted bug, and replay of the kept traces.
# CI runs exactly this (.ci/run). Sweep size per scenario: SWEEP_SEEDS (default 1000).
set -uo pipefail
cd "$(dirname "$0")/.."
seeds="${SWEEP_SEEDS:-1000}"
passed=0
failed=0
step() {
  local name="$1"; shift
  echo "== $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $name"; fi
}

bash scripts/setup-system.sh || exit 2
step "determinism lint" bash scripts/lint-determinism.sh
step "release build" swift build -c release
step "unit, simulation and CLI tests" swift test
if [ -x .build/release/aegis ]; then
  for scenario in Scenarios/*.yaml; do
    step "sweep $scenario (seeds 1..$seeds)" .build/release/aegis sim sweep "$scenario" --seeds "1..$seeds"
  done
  for scenario in Scenarios/planted/*.yaml; do
    step "planted bug caught: $scenario (seeds 1..200)" .build/release/aegis sim sweep "$scenario" --seeds 1..200 --traces-max 0
  done
  for trace in Traces/*.trace; do
    [ -e "$trace" ] || continue
    step "replay $trace" .build/release/aegis sim replay "$trace"
  done
fi
echo
echo "checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
