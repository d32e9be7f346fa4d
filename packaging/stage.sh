#!/bin/bash
# Lays out an installed spma under DESTDIR: the Python package (spma, spma.backends, spma.errata;
# no test builders), /usr/bin/spma, the systemd units, spma(8) and the documentation. Used by
# build-deb.sh and by the RPM spec, so both packages install the same files.
#   stage.sh DESTDIR SITELIB UNITDIR MAN8PAGE
set -euo pipefail
dest=$1 sitelib=$2 unitdir=$3 manpage=$4
src=$(cd "$(dirname "$0")/.." && pwd)
pkg=$dest$sitelib/spma
install -d "$pkg" "$pkg/backends" "$pkg/errata"
copy_py() {  # copy_py FROM TO: the .py files of a tree (subpackages too), no test builders
    (cd "$1" && find . -name '*.py' -not -path '*/__pycache__/*' -not -path './testing/*' -print0) |
        while IFS= read -r -d '' f; do install -D -m 0644 "$1/$f" "$2/$f"; done
}
copy_py "$src/spma" "$pkg"
copy_py "$src/backends" "$pkg/backends"
copy_py "$src/errata" "$pkg/errata"
install -D -m 0755 /dev/stdin "$dest/usr/bin/spma" <<'PY'
#!/usr/bin/python3 -s
# spma, installed as a distribution package: the system Python with the distribution's
# package-manager bindings (python3-dnf / python3-apt).
import sys

from spma.entry import main

sys.exit(main())
PY
for unit in spma.service spma.timer spma-boot.service; do
    install -D -m 0644 "$src/containers/systemd/$unit" "$dest$unitdir/$unit"
done
install -D -m 0644 "$manpage" "$dest/usr/share/man/man8/spma.8"
gzip -9n -f "$dest/usr/share/man/man8/spma.8"
install -d "$dest/usr/share/doc/spma"
install -m 0644 "$src/README.md" "$src"/docs/*.md "$dest/usr/share/doc/spma/"
