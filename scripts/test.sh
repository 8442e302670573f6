#!/usr/bin/env bash
# Installs the dependencies, builds everything (release preset) and runs all tests: unit, CLI
# end-to-end, GUI (offscreen), the bounded fuzz run and the benchmark smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset release
cmake --build --preset release
ctest --preset release -j "$(nproc)"
