#!/usr/bin/env bash
# Runs every Fuzz target of the module briefly (seed corpus plus a short random search).
# Targets are found in the test files' source, so listing them compiles nothing.
#
# FUZZ_MAX_DEPS=N searches only the packages whose test build has at most N packages in
# it. A search compiles every dependency again with coverage instrumentation, and the
# packages that import the Kubernetes client libraries (~800 packages) cost ~10 CPU-minutes
# cold; `make test` leaves those to `make fuzz` (their seed corpora and regression inputs
# run in every `make unit` as plain tests).
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-4s}
max_deps=${FUZZ_MAX_DEPS:-0}
log=$(mktemp "${TMPDIR:-/tmp}/sluice-fuzz.XXXXXX")
trap 'rm -f "$log"' EXIT
n=0
for dir in $(git ls-files -co --exclude-standard -- '*_test.go' | xargs grep -l '^func Fuzz' | xargs -n1 dirname | sort -u); do
  if [ "$max_deps" -gt 0 ]; then
    deps=$(go list -deps -test "./$dir" | wc -l)
    if [ "$deps" -gt "$max_deps" ]; then
      echo ">> fuzz ./$dir: not searched here ($deps packages in its test build > $max_deps; \`make fuzz\` searches it, its seed corpus ran in unit)"
      continue
    fi
  fi
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //' | sort -u); do
    echo ">> fuzz ./$dir $target ($t)"
    # Go 1.26's fuzz coordinator can report "context deadline exceeded" when -fuzztime ends
    # while a worker is busy (golang/go#75804, fixed in Go 1.27), with no failing input. That
    # alone earns one retry; anything else, or a written reproducer, fails at once.
    for attempt in 1 2; do
      if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" -fuzzminimizetime 1s "./$dir" >"$log" 2>&1; then
        break
      fi
      if [ "$attempt" = 1 ] && grep -q 'context deadline exceeded' "$log" &&
        ! grep -qE 'Failing input written|panic:|_test\.go:[0-9]' "$log"; then
        echo "   $target: fuzz coordinator deadline race (golang/go#75804), no failing input; retrying once"
        continue
      fi
      cat "$log"
      exit 1
    done
    n=$((n+1))
  done
done
if [ "$n" -eq 0 ]; then echo "fuzz: no targets found" >&2; exit 1; fi
echo "fuzz: $n targets ran without failure"
