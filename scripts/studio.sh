#!/usr/bin/env bash
# Installs the dependencies, builds HQQ Studio (release preset) and starts the GUI.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset release
cmake --build --preset release
exec ./build/release/bin/hqq-studio "$@"
