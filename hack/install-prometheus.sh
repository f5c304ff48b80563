#!/usr/bin/env bash
# Installs the Debian package `prometheus` (for pkg/source's real-server test) unless it is
# already there. Idempotent and quiet: runs `apt-get update` only when it has to install.
set -euo pipefail

if [[ -x /usr/bin/prometheus ]] && dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q 'install ok installed'; then
	exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if ! command -v sudo >/dev/null; then
		echo "install-prometheus: not root and no sudo; install the 'prometheus' package yourself (the test skips without it)" >&2
		exit 0
	fi
	sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus; } >"$log" 2>&1; then
	echo "install-prometheus: apt-get failed:" >&2
	tail -n 20 "$log" >&2
	exit 1
fi
# The package may start a systemd service; the test never relies on it (it starts its own).
