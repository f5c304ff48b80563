#!/usr/bin/env bash
# Builds istiod (pilot-discovery) from this module's tool directive into a cache
# directory keyed by go.mod, go.sum, this script and the Go version, and prints that
# directory (it holds the pilot-discovery binary). A present cache entry is reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/sluice/istiod
key=$( { cat "$here/go.mod" "$here/go.sum" "$here/build.sh"; go version; } | sha256sum | cut -c1-16)
out=$cache/$key
if [ -x "$out/pilot-discovery" ]; then
  echo "$out"; exit 0
fi
echo ">> building istiod (pilot-discovery) into $out (cold: ~4 min, 2.7 GB RAM)" >&2
mkdir -p "$cache"
tmp=$(mktemp -d "$cache.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$here"
# -p 2: the machine has 2 cores; more parallel compiles only add memory pressure.
# vtprotobuf and disable_pgv are the tags Istio's own release builds use.
go build -p 2 -trimpath -tags=vtprotobuf,disable_pgv -ldflags '-s -w' \
  -o "$tmp/pilot-discovery" istio.io/istio/pilot/cmd/pilot-discovery >&2
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo ">> built $out" >&2
echo "$out"
