#!/usr/bin/env bash
# Installs the dependencies, then runs three parts, each timed; the script fails if any part
# fails (the later parts still run, so that one CI run shows every failing part):
#   release  the release build with -Werror (HQQ_WERROR) and all its tests: unit, CLI
#            end-to-end, GUI (offscreen), the bounded fuzz run and the benchmark smoke test;
#            then the .deb installed into a clean Debian 12 root (debootstrap).
#   asan     ASan + UBSan (preset asan): core, ui, CLI; the unit, CLI e2e and GUI tests.
#   tsan     TSan (preset tsan): the GUI tests only (JobRunner and Qt worker threads), with
#            OMP_NUM_THREADS=1 (libgomp is not instrumented; tests/sanitizers/README.md).
# Subsets chosen for CI (2 cores, whole run under 40 min). Measured from clean builds on the
# shared 2-core development machine (slower than CI): see tests/sanitizers/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
./scripts/install-deps.sh
jobs="$(nproc)"

part_release() {
  cmake --preset release -DHQQ_WERROR=ON
  cmake --build --preset release
  ctest --preset release -j "$jobs"
  (cd build/release && cpack -G DEB >/dev/null)
  $SUDO ./installer/test-in-debootstrap.sh "$(ls -t build/release/hqq-studio_*.deb | head -n1)"
}

part_asan() {
  cmake --preset asan -DHQQ_WERROR=ON
  cmake --build --preset asan
  ctest --preset asan -j "$jobs"
}

part_tsan() {
  cmake --preset tsan -DHQQ_WERROR=ON
  cmake --build --preset tsan
  ctest --preset tsan -j "$jobs"
}

summary=()
failed=0
for part in release asan tsan; do
  echo "=== $part ==="
  start=$SECONDS
  # set -e must hold inside each part: run it in a subshell outside any if/|| context.
  set +e
  (set -euo pipefail; "part_$part")
  rc=$?
  set -e
  result="ok"
  if [ "$rc" -ne 0 ]; then result="FAILED (exit $rc)"; failed=1; fi
  summary+=("$(printf '%-8s %-18s %4d s' "$part" "$result" $((SECONDS - start)))")
done
echo "=== summary ==="
printf '%s\n' "${summary[@]}"
exit "$failed"
