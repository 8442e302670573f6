#!/usr/bin/env bash
# Installs the hqq-studio .deb into a clean Debian 12 root made by debootstrap and runs the
# programs there: proves that the package's dependencies (dpkg-shlibdeps + the hand-named ones)
# are complete on a system that has nothing of the build machine.
#
#   installer/test-in-debootstrap.sh [PACKAGE.deb]   (as root; needs network to a Debian mirror)
#
# Without an argument the package is built from build/release first. The bare root is cached in
# build/debootstrap/base (made once, ~30 s); each run installs into a fresh copy of it.
set -euo pipefail
root_dir=$(cd "$(dirname "$0")/.." && pwd)
work="$root_dir/build/debootstrap"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

deb=${1:-}
if [[ -z "$deb" ]]; then
  cmake --build --preset release
  (cd "$root_dir/build/release" && cpack -G DEB >/dev/null)
  deb=$(ls -t "$root_dir"/build/release/hqq-studio_*.deb | head -n1)
fi
deb=$(realpath "$deb")
echo "package: $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --field "$deb" Depends | tr ',' '\n' | sed 's/^ */  depends: /'

command -v debootstrap >/dev/null || apt-get install -y debootstrap >/dev/null
mkdir -p "$work"
if [[ ! -x "$work/base/bin/bash" ]]; then
  rm -rf "$work/base.tmp"
  debootstrap --variant=minbase bookworm "$work/base.tmp" "$mirror" >"$work/debootstrap.log"
  mv "$work/base.tmp" "$work/base"
fi

target="$work/root"
cleanup() {
  umount "$target/proc" 2>/dev/null || true
  rm -rf "$target"
}
trap cleanup EXIT
rm -rf "$target"
cp -a "$work/base" "$target"
# dpkg and apt work without /proc (with warnings); a container that may not mount it still runs
# the test.
mount -t proc proc "$target/proc" 2>/dev/null || echo "note: /proc not mounted in the root"
cp /etc/resolv.conf "$target/etc/resolv.conf"
cp "$deb" "$target/tmp/hqq-studio.deb"

in_root() { chroot "$target" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
in_root apt-get update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /tmp/hqq-studio.deb >/dev/null
echo "installed: $(in_root dpkg-query -W -f='${Package} ${Version}' hqq-studio)"

in_root hqq --version
in_root env QT_QPA_PLATFORM=offscreen hqq-studio --version
# The engine works there too: the demo model's card and a few greedy tokens through the
# tokenizer plugin and libtorch.
in_root hqq info /usr/share/hqq-studio/demo-model | head -n 3
in_root hqq -q generate /usr/share/hqq-studio/demo-model --prompt "The Union is" \
  --max-tokens 8 --temperature 0
for f in /usr/share/applications/hqq-studio.desktop \
  /usr/share/metainfo/io.github.hqq_studio.HqqStudio.metainfo.xml \
  /usr/share/icons/hicolor/scalable/apps/hqq-studio.svg \
  /usr/share/hqq-studio/sample-data/finetune.txt; do
  test -f "$target$f" || { echo "missing in the package: $f" >&2; exit 1; }
done
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$root_dir/installer/hqq-studio.desktop"
fi
if command -v appstreamcli >/dev/null; then
  appstreamcli validate --no-net --pedantic \
    "$root_dir/installer/io.github.hqq_studio.HqqStudio.metainfo.xml" | tail -n 2
fi
echo "debootstrap install test: OK"
