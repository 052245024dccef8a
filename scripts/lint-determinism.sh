#!/usr/bin/env bash
# Enforces the determinism contract on the engine (Sources/Aegis) and the simulator
# (Sources/Sim): no wall clock, no Foundation file or process APIs, no Dispatch,
# threads, locks, async/await, tasks or actors, no unseeded randomness, and no loop
# over a Dictionary's keys or values (Swift's hash order changes per process).
#
# Usage: scripts/lint-determinism.sh [ROOT]   (ROOT defaults to the repository)
# Exit: 0 clean, 1 violations found (each printed as FILE:LINE: rule: text).
set -u
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
status=0

check() {
  local rule="$1" pattern="$2"
  local hits
  hits=$(grep -rnE --include='*.swift' "$pattern" "$root/Sources/Aegis" "$root/Sources/Sim" 2>/dev/null \
    | grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' || true)
  if [ -n "$hits" ]; then
    status=1
    while IFS= read -r hit; do
      local relative="${hit#"$root"/}"
      local location="${relative%%:*}:$(cut -d: -f2 <<< "$relative")"
      local text="${relative#*:*:}"
      printf '%s: %s:%s\n' "$location" "$rule" "$text"
    done <<< "$hits"
  fi
}

check "wall clock (use the node's Clock)" '\bDate\(|Date\.now|\bDate\.init|CFAbsoluteTime|gettimeofday|clock_gettime|\btime\(nil\)|ContinuousClock|SuspendingClock|DispatchTime|DispatchWallTime'
check "process or environment API" 'ProcessInfo|CommandLine\.|\bgetenv\(|\bsetenv\(|\bexit\(|\bProcess\(\)'
check "Foundation file API (use the Disk door)" 'FileManager|FileHandle\(|FileHandle\.standard|\bfopen\(|\bfwrite\(|\bfread\(|\bopen\(\s*"|contentsOfFile|contentsOf:\s*URL|\.write\(to:|URL\(fileURLWithPath'
check "sockets (use the Network door)" '\bsocket\(|\bconnect\(|\bbind\(|URLSession'
check "threads, Dispatch or locks" '\bimport Dispatch\b|Dispatch[A-Z][A-Za-z]*|\bThread\b|pthread_|NSLock|NSRecursiveLock|NSCondition|\bMutex\b|\bAtomic<|os_unfair_lock|\bimport Synchronization\b|\bsleep\(|usleep\(|nanosleep\('
check "async/await, tasks or actors" '\basync\b|\bawait\b|\bTask\s*[{(.]|\bTask<|\bactor\b|@MainActor|TaskGroup'
check "unseeded randomness (use the node's Entropy)" 'SystemRandomNumberGenerator|arc4random|\bdrand48|\brandom\(\)|\.random\(in:[^,)]*\)|\.randomElement\(\)|\.shuffled\(\)|\.shuffle\(\)|UUID\(\)'
check "loop over a Dictionary's keys or values (sort them first)" 'for\s*\(?[A-Za-z_, ]+\)?\s+in\s+[A-Za-z_.]+\.(keys|values)\s*\{'
check "Swift's per-process hash reaching output (use StableHash64)" 'hashValue|Hasher\(\)'

if [ "$status" -eq 0 ]; then
  echo "determinism lint: Sources/Aegis and Sources/Sim are clean"
else
  echo "determinism lint: violations above; engine and simulator code must reach the world only through Environment" >&2
fi
exit "$status"
