#!/usr/bin/env bash
# The whole test suite, from a fresh machine: system libraries, the determinism lint,
# a release build, the unit/simulation/CLI tests (Swift and the independent Python
# checker's), seed sweeps of every shipped scenario, sweeps that must catch each
# planted bug, and replay of the kept traces. CI runs exactly this (.ci/run).
# Sweep size per scenario: SWEEP_SEEDS (default 1000); the sharded scenarios, five nodes
# with many groups each and about five times slower, SHARD_SWEEP_SEEDS (default 300;
# README gives their 1,000-seed figures, measured apart).
set -uo pipefail
cd "$(dirname "$0")/.."
seeds="${SWEEP_SEEDS:-1000}"
shard_seeds="${SHARD_SWEEP_SEEDS:-300}"
sharded() { grep -qE '^  kind: (shard-bank|list-append|shard-sql-bank)' "$1"; }
passed=0
failed=0
step() {
  local name="$1"; shift
  echo "== $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $name"; fi
}
# A sweep with a planted bug must report failures (exit 1 or 3), not pass and not
# stop on bad input.
caught() {
  "$@" > /tmp/aegis-planted.$$ 2>&1
  local status=$?
  grep -E "^(passed|failed) " /tmp/aegis-planted.$$
  rm -f /tmp/aegis-planted.$$
  [ "$status" -eq 1 ] || [ "$status" -eq 3 ]
}

bash scripts/setup-system.sh || exit 2
step "determinism lint" bash scripts/lint-determinism.sh
step "release build" swift build -c release
step "unit, simulation and CLI tests" swift test
step "independent linearizability checker tests" python3 -m unittest discover -s tools/linearizability
step "sqllogictest corpus agrees with SQLite" python3 tools/sqllogictest/sqllogictest.py check Tests/SQLLogic/*.test
if [ -x .build/release/aegis ]; then
  aegis=.build/release/aegis
  for scenario in Scenarios/*.yaml Scenarios/probe/*.yaml; do
    count=$seeds
    if sharded "$scenario"; then count=$shard_seeds; fi
    step "sweep $scenario (seeds 1..$count)" "$aegis" sim sweep "$scenario" --seeds "1..$count"
  done
  for scenario in Scenarios/probe/planted/*.yaml; do
    step "planted bug caught: $scenario (seeds 1..200)" "$aegis" sim sweep "$scenario" --seeds 1..200 --traces-max 0
  done
  for mutation in raft-vote-twice raft-commit-old-term raft-ack-before-sync raft-skip-log-matching raft-follower-read; do
    step "planted bug caught: $mutation in Scenarios/partitions.yaml (seeds 1..200)" \
      caught "$aegis" sim sweep Scenarios/partitions.yaml --seeds 1..200 --mutation "$mutation" --traces-max 0
  done
  step "planted bug caught: sql-commit-failed-transaction in Scenarios/sql-bank.yaml (seeds 1..200)" \
    caught "$aegis" sim sweep Scenarios/sql-bank.yaml --seeds 1..200 --mutation sql-commit-failed-transaction --traces-max 0
  for mutation in storage-skip-wal-sync storage-manifest-rename-before-sync storage-ignore-block-checksum; do
    step "planted bug caught: $mutation in Scenarios/storage.yaml (seeds 1..200)" \
      caught "$aegis" sim sweep Scenarios/storage.yaml --seeds 1..200 --mutation "$mutation" --traces-max 0
  done
  for planted in "shard-bank txn-commit-without-prepare" "list-append txn-forget-decision" \
      "shard-bank txn-release-locks-early" "shard-bank shard-stale-route" "shard-sql-bank sql-shard-unchecked-reads" \
      "shard-sql-bank sql-shard-no-request-record"; do
    set -- $planted
    step "planted bug caught: $2 in Scenarios/$1.yaml (seeds 1..200)" \
      caught "$aegis" sim sweep "Scenarios/$1.yaml" --seeds 1..200 --mutation "$2" --traces-max 0
  done
  # Release builds of the simulator leave Swift's dynamic exclusivity checks out for
  # speed (Package.swift); the debug build keeps them, so every top-level scenario runs there too.
  debug_seeds="${DEBUG_SWEEP_SEEDS:-100}"
  if swift build > /tmp/aegis-debug-build.$$ 2>&1; then
    for scenario in Scenarios/*.yaml; do
      count=$debug_seeds
      if sharded "$scenario"; then count=$(( debug_seeds / 5 )); fi
      step "debug-build sweep $scenario (seeds 1..$count, exclusivity checks on)" \
        .build/debug/aegis sim sweep "$scenario" --seeds "1..$count" --traces-max 1
    done
  else
    cat /tmp/aegis-debug-build.$$
    step "debug build" false
  fi
  rm -f /tmp/aegis-debug-build.$$
  for trace in Traces/*.trace; do
    [ -e "$trace" ] || continue
    step "replay $trace" "$aegis" sim replay "$trace"
  done
  for trace in Traces/regressions/*.trace; do
    [ -e "$trace" ] || continue
    step "rerun fixed failure $trace" "$aegis" sim rerun "$trace"
  done
fi
echo
echo "checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
