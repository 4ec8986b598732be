#!/usr/bin/env bash
# Builds the Debian packages (dane-policyd and dane-policyd-dbgsym) from this checkout and lints them.
#
#   bash scripts/build-deb.sh [OUTDIR]
#
# Installs the packaging tools first (scripts/install-deps.sh package). The checkout's files
# (tracked and new, not ignored ones) are copied to OUTDIR/src and built there with
# `dpkg-buildpackage -us -uc -b`, so the checkout gets no debian/ build droppings; the .deb,
# .changes and .buildinfo files land in OUTDIR (default build-deb/, ignored by git). Exits non-zero
# when the build fails or lintian reports an error; lintian's warnings are printed.
# Environment: JOBS (parallel build jobs, default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
out=${1:-build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
jobs=${JOBS:-$(nproc)}

bash scripts/install-deps.sh package

# The package version must be the project's: debian/changelog's upstream part = project(VERSION).
project_version=$(sed -nE 's/^project\(dane-policyd VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
deb_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
if [ "${deb_version%-*}" != "$project_version" ]; then
  echo "build-deb: debian/changelog says $deb_version but CMakeLists.txt says VERSION $project_version" >&2
  exit 1
fi

rm -rf "$out/src" "$out"/dane-policyd*_"$deb_version"_*.deb "$out"/dane-policyd_"$deb_version"_*.changes \
  "$out"/dane-policyd_"$deb_version"_*.buildinfo
mkdir -p "$out/src"
git -C "$src" ls-files -z --cached --others --exclude-standard |
  (cd "$src" && xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
  tar -C "$src" --null -T - -cf - | tar -C "$out/src" -xf -

echo "build-deb: dpkg-buildpackage -us -uc -b in $out/src"
(cd "$out/src" && DEB_BUILD_OPTIONS="parallel=$jobs" dpkg-buildpackage -us -uc -b)

changes="$out/dane-policyd_${deb_version}_$(dpkg --print-architecture).changes"
echo "build-deb: lintian $changes"
lintian_out=$(lintian --tag-display-limit 0 "$changes" 2>&1) || true
[ -n "$lintian_out" ] && printf '%s\n' "$lintian_out"
if grep -q '^E: ' <<<"$lintian_out"; then
  echo "build-deb: lintian reported errors" >&2
  exit 1
fi
ls -l "$out"/*.deb
