#!/usr/bin/env bash
# `make test`: every stage CI runs, ordered so that a cold machine spends its two cores on
# work rather than waiting.
#
# The foreground runs, in order: gofmt, generated files, self-containment, unit and race,
# mesh lab, real node. Alongside:
#   - at once, at normal priority: the Debian packages and the kube-apiserver/etcd/kubectl
#     build, which self-containment and end-to-end are the first to need;
#   - at once, at the lowest CPU priority (nice 19): the istiod and kubelet builds (needed
#     by the last two stages) and the fuzz search of the packages that do not pull in the
#     Kubernetes libraries (hack/fuzz.sh explains; `make fuzz` searches every target);
#   - once the API server is built, at normal priority: end-to-end. It spends ten minutes
#     mostly waiting for ticks (a cold run measured 242 s of CPU in 597 s), so it runs
#     beside self-containment and unit, which run at nice 10: end-to-end gets a core when
#     it wants one, and they take the rest. Its stand-ins use 127.10.x, 127.42.x and
#     127.0.61-64/150-151/253-254.x, no address a unit package binds.
#   - once unit is done, at nice 19: vet and staticcheck (`make lint`), which reuse unit's
#     compiled packages (same settings).
# Each stage and job prints how long it took; a failure anywhere fails the run, and the
# background work is stopped with it.
set -euo pipefail
cd "$(dirname "$0")/.."

logs=$(mktemp -d "${TMPDIR:-/tmp}/sluice-test.XXXXXX")
declare -A pids=()
start=$SECONDS

stamp() { printf '== %s (%ds)\n' "$1" "$((SECONDS - start))"; }

# cost NAME: the format of bash's `time` for a stage or job: its wall time and the CPU
# time it and its children used, which says what a cold run spends its cores on.
cost() { printf '== %s took %%0R s; CPU: %%0U s user, %%0S s system' "$1"; }

# spawn NAME CMD...: runs CMD in its own process group, output to $logs/NAME.log.
spawn() {
  local name=$1; shift
  TIMEFORMAT=$(cost "$name") setsid bash -c "time ( $* )" >"$logs/$name.log" 2>&1 &
  pids[$name]=$!
  stamp "started $name in the background"
}

# await NAME: waits for a background job, prints its output, fails the run if it failed.
await() {
  local name=$1 rc=0
  wait "${pids[$name]}" || rc=$?
  unset "pids[$name]"
  sed "s/^/[$name] /" "$logs/$name.log"
  if [ "$rc" -ne 0 ]; then
    stamp "$name FAILED (exit $rc)"; exit "$rc"
  fi
  stamp "$name done"
}

cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
  rm -rf "$logs"
}
trap cleanup EXIT

# stage NAME CMD...: runs CMD in the foreground, timed in a shell of its own (this one's
# `time` would also count the background jobs it reaps meanwhile).
stage() {
  local name=$1; shift
  stamp "$name"
  TIMEFORMAT=$(cost "$name") bash -c 'time "$@"' bash "$@"
  stamp "$name done"
}

spawn prereqs 'hack/install-debs.sh && e2e/k8sbins/build.sh'
spawn late-builds 'nice -n 19 e2e/istiodbin/build.sh && nice -n 19 e2e/nodebins/build.sh'
spawn fuzz 'FUZZ_MAX_DEPS=400 nice -n 19 hack/fuzz.sh "${FUZZTIME:-4s}"'

stage gofmt make --no-print-directory fmt-check
stage check-generated make --no-print-directory check-generated

# After prereqs: end-to-end and some of the packages self-containment tests in the copy
# start a real API server.
await prereqs
spawn e2e 'make --no-print-directory e2e'
stage check-selfcontained nice -n 10 make --no-print-directory check-selfcontained
stage unit nice -n 10 make --no-print-directory unit
spawn lint 'nice -n 19 make --no-print-directory vet staticcheck'
await e2e

await late-builds
stage meshlab make --no-print-directory meshlab
stage node make --no-print-directory node
await lint
await fuzz
stamp "make test passed"
