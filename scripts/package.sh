#!/usr/bin/env bash
# Builds the Debian package of zarrmount from the zarrmount already built in
# BUILD (default build/; brought up to date, not rebuilt), and prints its
# path: BUILD/zarrmount_VERSION_ARCH.deb with
#   /usr/bin/zarrmount                      (stripped)
#   /usr/libexec/zarrmount/zarrmount-scan   `zarrmount scan` and its workers (stripped)
#   /sbin/mount.fuse.zarrmount              mount(8)'s helper, a link
#   /lib/systemd/system/zarrmount@.service  the service template
#   /usr/share/man/man1/zarrmount.1.gz      from --help and the README
#   /usr/share/bash-completion/completions/zarrmount   from --help
#   /usr/share/doc/zarrmount/               copyright, changelog, examples
# Its dependencies are the Debian packages of the libraries the binaries link
# (dpkg-shlibdeps), fuse3 and libsystemd0 (loaded at run time). Version: packaging/debian/changelog's, whose
# upstream part must be what `zarrmount --version` says.
# Usage: scripts/package.sh [--lintian]   (--lintian: also run lintian,
# failing on errors; warnings are printed)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${BUILD_DIR:-$repo/build}" && pwd)
cmake --build "$build" --target zarrmount zarrmount-scan >/dev/null

bin=$build/zarrmount
upstream=$("$bin" --version | sed -n '1s/^zarrmount //p')
version=$(sed -n '1s/^zarrmount (\([^)]*\)).*/\1/p' "$repo/packaging/debian/changelog")
if [[ ${version%-*} != "$upstream" ]]; then
  echo "package.sh: packaging/debian/changelog says $version, zarrmount --version $upstream" >&2
  exit 1
fi
arch=$(dpkg --print-architecture)
work=$build/package
root=$work/root
rm -rf "$work"
mkdir -p "$root/DEBIAN" "$work/debian"

# The files.
install -D -m 0755 "$bin" "$root/usr/bin/zarrmount"
install -D -m 0755 "$build/zarrmount-scan" "$root/usr/libexec/zarrmount/zarrmount-scan"
for b in usr/bin/zarrmount usr/libexec/zarrmount/zarrmount-scan; do
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/$b"
done
mkdir -p "$root/sbin"
ln -s /usr/bin/zarrmount "$root/sbin/mount.fuse.zarrmount"
install -D -m 0644 "$repo/packaging/systemd/zarrmount@.service" \
  "$root/lib/systemd/system/zarrmount@.service"
man=$root/usr/share/man/man1/zarrmount.1
mkdir -p "$(dirname "$man")" "$root/usr/share/man/man8"
date=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}" +%Y-%m-%d)
"$repo/packaging/make_man.py" "$bin" "$repo/README.md" "$date" "$man"
gzip -9n "$man"
ln -s ../man1/zarrmount.1.gz "$root/usr/share/man/man8/mount.fuse.zarrmount.8.gz"
mkdir -p "$root/usr/share/bash-completion/completions"
"$repo/packaging/make_completion.py" "$bin" "$root/usr/share/bash-completion/completions/zarrmount"
doc=$root/usr/share/doc/zarrmount
install -D -m 0644 "$repo/packaging/debian/copyright" "$doc/copyright"
gzip -9nc "$repo/packaging/debian/changelog" >"$doc/changelog.Debian.gz"
for f in fstab data-agg.mount data-agg.automount agg.conf; do
  install -D -m 0644 "$repo/packaging/systemd/$f" "$doc/examples/$f"
done
chmod -R u=rwX,go=rX "$root"

# The dependencies: the packages holding the libraries the binaries link, and
# libsystemd0, which it loads when a service manager listens.
printf 'Source: zarrmount\n\nPackage: zarrmount\nArchitecture: any\n' >"$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O -e root/usr/bin/zarrmount \
  -e root/usr/libexec/zarrmount/zarrmount-scan 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')
[[ -n $shlibs ]] || { echo "package.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

size_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE_KB@/$size_kb/" \
  -e "s/@DEPENDS@/$shlibs, fuse3, libsystemd0/" "$repo/packaging/debian/control.in" >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
  xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

deb=$build/zarrmount_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"

if [[ ${1:-} == --lintian ]]; then
  # lintian refuses to run as root unless told it may.
  report=$(lintian --allow-root --tag-display-limit 0 "$deb" 2>&1 || true)
  [[ -n $report ]] && echo "$report" >&2
  if grep -q '^E: ' <<<"$report"; then
    echo "package.sh: lintian found errors" >&2
    exit 1
  fi
fi
