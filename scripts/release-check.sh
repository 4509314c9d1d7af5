#!/usr/bin/env bash
# Checks that the release binary is fully static and serves a request from an empty data dir.
set -euo pipefail
BIN=${1:-.build/release/harborguard}
out=$(ldd "$BIN" 2>&1 || true)
echo "ldd: $out"
grep -q "not a dynamic executable" <<<"$out" || { echo "FAIL: $BIN is dynamically linked"; exit 1; }
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" serve --data-dir "$tmp/data" --port "$port" >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
key=$(cat "$tmp/data/initial-admin-key")
curl -fsS -H "X-API-Key: $key" "http://127.0.0.1:$port/api/organization" | grep -q '"name":"default"'
echo "release-check: static binary $(du -h "$BIN" | cut -f1) served /api/organization: ok"
