#!/bin/bash
# A minimal Debian 12 (bookworm) root for spma's system test, built with mmdebstrap from Debian's
# archive and cached as a tarball; prints the tarball's path. Rebuilt when older than a week.
set -euo pipefail
mirror=${SPMA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${SPMA_DEBIAN_CACHE:-$HOME/.cache/spma-debian12}
tar=$cache/bookworm-apt.tar
mkdir -p "$cache"
if [ -f "$tar" ] && [ -s "$tar" ] && [ -n "$(find "$tar" -mtime -7 2>/dev/null)" ]; then
    echo "$tar"
    exit 0
fi
if ! command -v mmdebstrap >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >&2
fi
# --variant=apt: Essential packages plus apt; ca-certificates for https mirrors
# the output format follows the file name: keep ".tar" last
mmdebstrap --quiet --variant=apt --include=ca-certificates bookworm "$cache/building.tar" "$mirror" >&2
mv "$cache/building.tar" "$tar"
echo "$tar"
