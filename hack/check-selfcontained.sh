#!/usr/bin/env bash
# Fails when the repository needs anything beside it: first hack/selfcontained names every
# path in its files that leads outside it; then the tests of every package that reads
# testdata run in a copy of the work tree (the files git tracks or would track) placed in
# an empty temporary directory, the way a user's clone stands alone.
# The root e2e package is left to the static check: its TestMain starts a whole cluster,
# which `make e2e` runs anyway.
set -euo pipefail
cd "$(dirname "$0")/.."

go run ./hack/selfcontained

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-selfcontained.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
copy=$tmp/sluice
mkdir "$copy"
git ls-files -z -co --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$copy"
# hack/selfcontained lists files with git; the copy has no history, only the files.
git -C "$copy" init -q
if [ "$(ls -A "$tmp")" != sluice ]; then
  echo "check-selfcontained: $tmp holds more than the copy" >&2; exit 1
fi

# Some of those packages start a real API server (e2e/standin): the cached binaries,
# built first when missing.
KUBEBUILDER_ASSETS=$(e2e/k8sbins/build.sh)
export KUBEBUILDER_ASSETS
cd "$copy"
mapfile -t pkgs < <(grep -rl --include='*.go' -e testdata . | xargs -n1 dirname | sort -u | grep -vx '\./e2e')
if [ "${#pkgs[@]}" -eq 0 ]; then
  echo "check-selfcontained: no package reads testdata; the copy would prove nothing" >&2; exit 1
fi
echo ">> testing ${#pkgs[@]} packages that read testdata in a copy with nothing beside it ($copy)"
go test -count=1 "${pkgs[@]}"
