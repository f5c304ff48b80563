#!/usr/bin/env bash
# Builds kubelet, kube-scheduler and kube-controller-manager from this module's tool
# directives into a cache directory keyed by go.mod, go.sum, this script and the Go
# version, and prints that directory. A present cache entry is reused.
# A cold build (~1000 CPU-seconds, ~2.7 GB peak) holds the machine's shared lock
# /tmp/sluice-heavy.lock (SLUICE_HEAVY_LOCK overrides the path), unless a process this
# script runs under holds it already (e.g. `flock /tmp/sluice-heavy.lock make test`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/sluice/node-bins
key=$( { cat "$here/go.mod" "$here/go.sum" "$here/build.sh"; go version; } | sha256sum | cut -c1-16)
out=$cache/$key
bins=(kubelet kube-scheduler kube-controller-manager)
have() { for b in "${bins[@]}"; do [ -x "$out/$b" ] || return 1; done; }
if have; then echo "$out"; exit 0; fi
mkdir -p "$cache"
lock=${SLUICE_HEAVY_LOCK:-/tmp/sluice-heavy.lock}
# held_above: the lock is held (flock, /proc/locks) by this process or an ancestor.
held_above() {
  local ino holders p=$$
  ino=$(stat -c %i "$lock" 2>/dev/null) || return 1
  holders=$(awk -v i="$ino" '$2 == "FLOCK" { n = split($6, f, ":"); if (f[n] == i) print $5 }' /proc/locks)
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do
    grep -qx "$p" <<<"$holders" && return 0
    p=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $2 }')
  done
  return 1
}
if ! held_above; then
  exec 9>"$lock"
  flock 9
  if have; then echo "$out"; exit 0; fi # built by someone else while we waited
fi
echo ">> building kubelet, kube-scheduler, kube-controller-manager v1.37.2 into $out (cold: ~6 min on 2 idle cores, 2.7 GB RAM)" >&2
tmp=$(mktemp -d "$cache.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
v=v1.37.2
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=37 -X $p.gitTreeState=clean"
done
cd "$here"
# One go build for all, so that one binary's link overlaps the others' compiles.
# -p 2: the machine has 2 cores; more parallel compiles only add memory pressure.
go build -p 2 -trimpath -ldflags "$ld" -o "$tmp/" "${bins[@]/#/k8s.io/kubernetes/cmd/}" >&2
rm -rf "$out"
mv "$tmp" "$out"
chmod 755 "$out"
trap - EXIT
echo ">> built $out" >&2
echo "$out"
