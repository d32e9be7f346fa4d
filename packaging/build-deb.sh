#!/bin/bash
# Builds dist/spma_<version>_all.deb from this checkout with dpkg-deb (no network, no root needed).
# Prints the path of the package.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
version=$("$py" -c 'import spma; print(spma.__version__)')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$py" packaging/manpage.py "$work/spma.8"
root=$work/root
bash packaging/stage.sh "$root" /usr/lib/python3/dist-packages /lib/systemd/system "$work/spma.8"
install -d "$root/DEBIAN" "$root/usr/share/doc/spma"
sed "s/@VERSION@/$version/" packaging/debian/control >"$root/DEBIAN/control"
install -m 0755 packaging/debian/postinst packaging/debian/prerm "$root/DEBIAN/"
install -m 0644 packaging/debian/copyright "$root/usr/share/doc/spma/copyright"
echo "Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)" >>"$root/DEBIAN/control"
mkdir -p dist
out=dist/spma_${version}_all.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out"
