#!/usr/bin/env bash
# Builds (once) a Debian bookworm root with Debian's ruby and a few Java libraries installed, as a
# tarball the scanner tests read: debootstrap minbase, then apt-get install inside the chroot.
# Usage: scripts/bookworm-ruby-java-root.sh OUT.tar   (reuses OUT.tar when it exists)
set -euo pipefail
out="$1"
[ -s "$out" ] && exit 0
command -v debootstrap >/dev/null || { echo "debootstrap is not installed" >&2; exit 2; }
mirror=$(grep -hoE '^URIs: *http[^ ]*debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}')
[ -n "$mirror" ] || mirror=$(grep -hoE '^deb +http[^ ]+' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}')
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
work=$(mktemp -d "${out}.work.XXXXXX")
trap 'umount "$work/root/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
cp /etc/resolv.conf "$work/root/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$work/root/proc"
chroot "$work/root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  ruby libcommons-logging-java libmongodb-java libcommons-lang3-java libslf4j-java >"$work/apt.log" 2>&1 \
  || { tail -20 "$work/apt.log" >&2; exit 1; }
umount "$work/root/proc"
chroot "$work/root" apt-get clean
tar -C "$work/root" --exclude=./dev --exclude=./proc --exclude=./sys --exclude=./run -cf "$out.tmp" .
mv "$out.tmp" "$out"
