#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from this module's tool directives into a
# cache directory keyed by go.mod, go.sum, this script and the Go version, and prints
# that directory (suitable for KUBEBUILDER_ASSETS). A present cache entry is reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/sluice/k8s-bins
key=$( { cat "$here/go.mod" "$here/go.sum" "$here/build.sh"; go version; } | sha256sum | cut -c1-16)
out=$cache/$key
if [ -x "$out/kube-apiserver" ] && [ -x "$out/etcd" ] && [ -x "$out/kubectl" ]; then
  echo "$out"; exit 0
fi
echo ">> building kube-apiserver v1.37.2, kubectl and etcd v3.7.0 into $out (cold: ~6 min, 2.5 GB RAM)" >&2
tmp=$(mktemp -d "$cache.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$cache"; mktemp -d "$cache.tmp.XXXXXX"; })
trap 'rm -rf "$tmp"' EXIT
v=v1.37.2
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=37 -X $p.gitTreeState=clean"
done
cd "$here"
# One go build for the three, so that one binary's link overlaps the others' compiles.
# -p 2: the machine has 2 cores; more parallel compiles only add memory pressure. The -X
# settings name packages etcd does not link, which the linker ignores.
go build -p 2 -trimpath -ldflags "$ld" -o "$tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl go.etcd.io/etcd/server/v3 >&2
mv "$tmp/server" "$tmp/etcd" # go build names go.etcd.io/etcd/server/v3's binary "server"
mkdir -p "$cache"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo ">> built $out" >&2
echo "$out"
