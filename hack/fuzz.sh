#!/usr/bin/env bash
# Runs every Fuzz target of the module briefly (seed corpus plus a short random search).
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-4s}
n=0
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo ">> fuzz $pkg $target ($t)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" -fuzzminimizetime 1s "$pkg" >/tmp/sluice-fuzz.log 2>&1 || { cat /tmp/sluice-fuzz.log; exit 1; }
    n=$((n+1))
  done
done
echo "fuzz: $n targets ran without failure"
