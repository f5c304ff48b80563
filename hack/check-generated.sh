#!/usr/bin/env bash
# Fails when the generated deepcopy and CRD files differ from what `make generate` produces.
set -euo pipefail
cd "$(dirname "$0")/.."
snap=$(mktemp -d); trap 'rm -rf "$snap"' EXIT
files=(pkg/apis/sluice/v1alpha1/zz_generated.deepcopy.go manifests/crds)
for f in "${files[@]}"; do cp -r "$f" "$snap/"; done
make -s generate >/dev/null
stale=0
diff -q "$snap/zz_generated.deepcopy.go" pkg/apis/sluice/v1alpha1/zz_generated.deepcopy.go >/dev/null || stale=1
diff -qr "$snap/crds" manifests/crds >/dev/null || stale=1
if [ "$stale" = 1 ]; then
  echo "generated files were stale; 'make generate' has rewritten them — commit the result" >&2
  exit 1
fi
echo "generated files up to date"
