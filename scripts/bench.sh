#!/usr/bin/env bash
# Builds release and runs the benchmarks; prints a table and writes bench/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release -Xswiftc -static-executable
exec python3 bench/run.py --bin .build/release/harborguard "$@"
