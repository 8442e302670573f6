#!/usr/bin/env bash
# The prepared device check (issue 16), for a lent GPU machine with nvcc, CMake and a CUDA PyTorch
# (no Qt there). One run, ≤ 8 minutes on an H200, one report:
#   1. configure the headless preset against the CUDA libtorch of that machine's PyTorch
#      (TorchConfig.cmake from torch.utils.cmake_prefix_path), GoogleTest from sources carried in
#      .gtest/ (copy /usr/src/googletest there first: `cp -r /usr/src/googletest .gtest`, and
#      carry it), sm_90 only to save compile time;
#   2. build the CUDA kernel test, the unit tests and the CLI;
#   3. run the CUDA kernel test (correctness against the CPU kernel on the Blocks64 layout) and
#      its --speed mode (GEMV at 1/2/4 bits on 4096×4096 and 4096×11008 beside a device-to-device
#      copy), then the unit tests (CPU paths against libtorch 2.x: core must keep working there),
#      then `hqq info --device auto` and `hqq generate --device cuda` on the demo model (which
#      says plainly whether the model runs on CUDA in this build);
#   4. write $OUT/gpu-report.txt (or ./gpu-report.txt without $OUT) with every step's output,
#      nvidia-smi, and the wall time of each step.
# Usage there: scripts/gpu-check.sh   (exit status: non-zero when a step failed)
set -uo pipefail
cd "$(dirname "$0")/.."
REPORT="${OUT:-.}/gpu-report.txt"
: >"$REPORT"
status=0
step() {
  local name=$1
  shift
  local t0=$SECONDS
  echo "== $name" | tee -a "$REPORT"
  if "$@" >>"$REPORT" 2>&1; then
    echo "-- $name: ok ($((SECONDS - t0)) s)" | tee -a "$REPORT"
  else
    echo "-- $name: FAILED ($((SECONDS - t0)) s)" | tee -a "$REPORT"
    status=1
  fi
}
TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
GTEST_ARGS=()
[ -d .gtest ] && GTEST_ARGS=(-DHQQ_GTEST_SOURCE_DIR="$PWD/.gtest")
step "nvidia-smi" nvidia-smi
step "configure" cmake --preset headless -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DHQQ_BUILD_BENCHMARKS=OFF -DHQQ_BUILD_FUZZERS=OFF "${GTEST_ARGS[@]}"
step "build" cmake --build build/headless -j "$(nproc)" --target hqq_cuda_tests hqq_unit_tests hqq
step "cuda kernel test" build/headless/bin/hqq_cuda_tests
step "cuda kernel speed" build/headless/bin/hqq_cuda_tests --speed
step "unit tests (libtorch 2.x)" build/headless/bin/hqq_unit_tests --gtest_brief=1
step "device auto" build/headless/bin/hqq info resources/demo-model --device auto
step "generate on cuda" build/headless/bin/hqq -q generate resources/demo-model \
  --prompt "It was" -n 8 --device cuda
echo "report: $REPORT"
exit $status
