#!/usr/bin/env bash
# Builds release and runs the benchmarks; prints a table, writes bench/results.json, and
# draws the plots (docs/bench/*.png) from it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check matplotlib
swift build -c release -Xswiftc -static-executable
python3 bench/run.py --bin .build/release/harborguard "$@"
python3 bench/plots.py --results bench/results.json --out docs/bench
