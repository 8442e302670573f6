#!/usr/bin/env bash
# Installs the dependencies, builds everything (release preset) and runs all tests: unit, CLI
# end-to-end, GUI (offscreen), the bounded fuzz run and the benchmark smoke test; then builds the
# .deb and installs it into a clean Debian 12 root (debootstrap) to run the programs there.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
./scripts/install-deps.sh
cmake --preset release
cmake --build --preset release
ctest --preset release -j "$(nproc)"
(cd build/release && cpack -G DEB >/dev/null)
$SUDO ./installer/test-in-debootstrap.sh "$(ls -t build/release/hqq-studio_*.deb | head -n1)"
