#!/usr/bin/env bash
# Installs everything HQQ Studio needs to build, run and test on Debian 12 (bookworm).
# Run as root (or with sudo). Idempotent.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config git ca-certificates \
  clang clang-format libclang-rt-14-dev \
  libtorch-dev libopenblas0-pthread libopenblas0-openmp \
  libsentencepiece-dev sentencepiece libonig-dev libicu-dev python3 \
  qt6-base-dev libqt6svg6 libqcustomplot-dev libgl-dev \
  nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev \
  googletest libgtest-dev libgmock-dev libbenchmark-dev \
  xvfb xauth \
  debootstrap desktop-file-utils appstream
