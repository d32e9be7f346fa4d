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
# --variant=apt: Essential packages plus apt; ca-certificates for https mirrors.
# The output format follows the file name: keep ".tar" last. Debian's mirrors are sometimes
# caught mid-sync ("File has unexpected size"): retry the fetches, then the whole build.
for attempt in 1 2 3 4; do
    rm -f "$cache/building.tar"
    if mmdebstrap --variant=apt --include=ca-certificates --aptopt='Acquire::Retries "5"' \
            bookworm "$cache/building.tar" "$mirror" >"$cache/build.log" 2>&1; then
        mv "$cache/building.tar" "$tar"
        echo "$tar"
        exit 0
    fi
    echo "mmdebstrap attempt $attempt failed:" >&2
    grep -E "^(E|W):" "$cache/build.log" | tail -5 >&2
    sleep $((attempt * 20))
done
tail -30 "$cache/build.log" >&2
exit 1
