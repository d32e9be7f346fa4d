#!/bin/bash
# Builds dist/spma-<version>-1.noarch.rpm from this checkout with rpmbuild (no network). The man
# page is generated here (it needs click) and shipped in the source tarball. Prints the path.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
version=$("$py" -c 'import spma; print(spma.__version__)')
top=$(mktemp -d)
trap 'rm -rf "$top"' EXIT
mkdir -p "$top/SOURCES" "$top/src/spma-$version/packaging"
"$py" packaging/manpage.py "$top/src/spma-$version/packaging/spma.8"
cp -r spma backends errata containers docs README.md "$top/src/spma-$version/"
cp packaging/stage.sh "$top/src/spma-$version/packaging/"
find "$top/src" -name __pycache__ -prune -exec rm -rf {} +
tar -C "$top/src" -czf "$top/SOURCES/spma-$version.tar.gz" "spma-$version"
rpmbuild -bb --quiet --define "_topdir $top" --define "spma_version $version" packaging/rpm/spma.spec >&2
mkdir -p dist
cp "$top"/RPMS/noarch/spma-"$version"-*.noarch.rpm dist/
ls dist/spma-"$version"-*.noarch.rpm | tail -1
