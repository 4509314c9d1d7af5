#!/bin/bash
# Builds harborguard_<version>_amd64.deb from the static release binary (make release), with
# dpkg-deb: the binary in /usr/bin, the systemd unit, /etc/harborguard/harborguard.conf (the
# unit's EnvironmentFile, a conffile), maintainer scripts that create the harborguard system
# user and /var/lib/harborguard (0700), and remove both on purge only.
# Usage: scripts/make-deb.sh BINARY OUTDIR
set -euo pipefail
bin=${1:?binary}
out=${2:?output directory}
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/.*static let current = "\(.*\)".*/\1/p' "$root/Sources/Scan/ProductVersion.swift")
[ -n "$version" ] || { echo "make-deb: no version in Sources/Scan/ProductVersion.swift" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/pkg
install -d -m 0755 "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/lib/systemd/system" "$pkg/etc/harborguard" \
    "$pkg/usr/share/doc/harborguard" "$pkg/usr/share/lintian/overrides"
install -m 0755 "$bin" "$pkg/usr/bin/harborguard"
# The unit as installed by hand (deploy/harborguard.service), with the package's paths and
# its settings read from the conffile.
sed -e 's#^ExecStart=/usr/local/bin/harborguard serve .*#ExecStart=/usr/bin/harborguard serve $HARBORGUARD_SERVE_ARGS#' \
    -e 's#^\# ExecStart=/usr/local/bin/#\# ExecStart=/usr/bin/#' \
    -e 's#^Environment=HARBORGUARD_DATA_DIR=/var/lib/harborguard#EnvironmentFile=/etc/harborguard/harborguard.conf#' \
    "$root/deploy/harborguard.service" > "$pkg/lib/systemd/system/harborguard.service"
chmod 0644 "$pkg/lib/systemd/system/harborguard.service"
install -m 0644 "$root/deploy/debian/harborguard.conf" "$pkg/etc/harborguard/harborguard.conf"
for f in postinst prerm postrm; do install -m 0755 "$root/deploy/debian/$f" "$pkg/DEBIAN/$f"; done
echo /etc/harborguard/harborguard.conf > "$pkg/DEBIAN/conffiles"
install -m 0644 "$root/deploy/debian/copyright" "$pkg/usr/share/doc/harborguard/copyright"
sed "s/@VERSION@/$version/" "$root/deploy/debian/changelog" | gzip -9n > "$pkg/usr/share/doc/harborguard/changelog.gz"
chmod 0644 "$pkg/usr/share/doc/harborguard/changelog.gz"
install -m 0644 "$root/deploy/debian/lintian-overrides" "$pkg/usr/share/lintian/overrides/harborguard"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" "$root/deploy/debian/control" > "$pkg/DEBIAN/control"
mkdir -p "$out"
deb="$out/harborguard_${version}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
