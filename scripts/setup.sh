#!/bin/bash
# Installs what spma needs on this host and makes .venv (system site packages: the distro
# bindings for dnf/rpm/apt cannot come from PyPI). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() { if [ "$(id -u)" -ne 0 ]; then echo "setup: run as root to install distro packages" >&2; exit 1; fi; }

if command -v apt-get >/dev/null 2>&1; then
    pkgs=(python3-dnf python3-libdnf python3-hawkey python3-rpm rpm createrepo-c dnf
          python3-apt apt-utils dpkg-dev python3-venv python3-defusedxml python3-createrepo-c mmdebstrap
          chromium python3-distributed)
    missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        need_root
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
elif command -v dnf >/dev/null 2>&1; then
    pkgs=(python3-dnf python3-libdnf python3-hawkey python3-rpm rpm-build createrepo_c python3-defusedxml)
    rpm -q "${pkgs[@]}" >/dev/null 2>&1 || { need_root; dnf -y -q install "${pkgs[@]}"; }
fi

if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv --system-site-packages .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import spma, dnf, hawkey, rpm" || { echo "setup: the venv cannot import the dnf bindings" >&2; exit 1; }
# `spma` on PATH: a link to the venv's entry point (the distribution packages install /usr/bin/spma,
# which the systemd units call; see packaging/). An existing file that is not our link is kept.
link=${SPMA_BIN_DIR:-/usr/local/bin}/spma
if [ -w "$(dirname "$link")" ] && { [ ! -e "$link" ] || [ -L "$link" ]; }; then
    ln -sfn "$PWD/.venv/bin/spma" "$link"
elif ! command -v spma >/dev/null 2>&1; then
    echo "setup: run as root to link $link, or add $PWD/.venv/bin to PATH" >&2
fi
