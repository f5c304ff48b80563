#!/usr/bin/env bash
# Installs the Debian packages the tests run for real (default: prometheus and
# prometheus-alertmanager; containerd, runc, the CNI plugins and iproute2 for the real
# node of e2e/node) unless they are all installed already. Idempotent and quiet:
# runs `apt-get update` only when it has to install.
set -euo pipefail

pkgs=("$@")
[[ ${#pkgs[@]} -gt 0 ]] || pkgs=(prometheus prometheus-alertmanager containerd runc containernetworking-plugins iproute2)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if ! command -v sudo >/dev/null; then
		echo "install-debs: not root and no sudo; install ${missing[*]} yourself (the tests that need them fail or skip)" >&2
		exit 0
	fi
	sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
	echo "install-debs: apt-get failed:" >&2
	tail -n 20 "$log" >&2
	exit 1
fi
# The packages may start systemd services; the tests never rely on them (they start their own).
