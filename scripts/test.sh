#!/usr/bin/env bash
# Installs the dependencies, then runs three parts, each timed; the script fails if any part
# fails (the later parts still run, so that one CI run shows every failing part):
#   release  the release build with -Werror (HQQ_WERROR) and all its tests: unit, CLI
#            end-to-end, GUI (offscreen), the bounded fuzz run and the benchmark smoke test;
#            then the .deb installed into a clean Debian 12 root (debootstrap).
#   asan     ASan + UBSan (preset asan): core, ui, CLI; the unit, CLI e2e and GUI tests.
#   tsan     TSan (preset tsan): the GUI tests only (JobRunner and Qt worker threads), with
#            OMP_NUM_THREADS=1 (libgomp is not instrumented; tests/sanitizers/README.md).
# Subsets chosen for CI (2 cores, whole run under 40 min): asan leaves out benchmarks, fuzzers,
# CUDA kernels and the package; tsan builds only hqq_job_runner_tests and hqq_gui_tests and
# leaves out Responsiveness.* (an 88 M-parameter timing test). Estimate from the CPU time of
# half-finished clean builds on the shared machine (tests/sanitizers/README.md): asan build
# ~1000 CPU-s (~8-9 min on 2 cores), tsan ~550 CPU-s (~5 min), plus their tests; about 30 min
# with the release part's ~8. Not yet timed end to end: check the summary below on CI.
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

# Parts whose failure fails the run. A part not listed here runs and is reported, but does not
# gate yet: it has not completed a run on the project's machines (see the note in
# tests/sanitizers/README.md); list it here once CI shows it green.
GATING="${HQQ_CI_GATING:-release}"
# CI stops a run at 90 minutes; the parts after the release part get what is left up to 80 (timeout
# signals the whole process group: ninja, ctest and the tests), so
# the summary always prints (a part cut short is reported as such).
BUDGET_S=$((80 * 60))

summary=()
failed=0
for part in release asan tsan; do
  echo "=== $part ==="
  start=$SECONDS
  left=$((BUDGET_S - SECONDS))
  if [ "$part" != release ] && [ "$left" -lt 120 ]; then
    summary+=("$(printf '%-8s %-18s %4d s' "$part" "skipped (no time)" 0)")
    continue
  fi
  # set -e must hold inside each part: run it in a subshell outside any if/|| context.
  set +e
  if [ "$part" = release ]; then
    (set -euo pipefail; "part_$part")
  else
    timeout "$left" bash -c "set -euo pipefail; $(declare -f "part_$part"); \
      jobs=$jobs; part_$part"
  fi
  rc=$?
  set -e
  result="ok"
  if [ "$rc" -eq 124 ]; then
    result="cut short (timeout)"
  elif [ "$rc" -ne 0 ]; then
    result="FAILED (exit $rc)"
  fi
  if [ "$rc" -ne 0 ]; then
    if [[ " $GATING " == *" $part "* ]]; then failed=1; else result="$result, not gating"; fi
  fi
  summary+=("$(printf '%-8s %-32s %4d s' "$part" "$result" $((SECONDS - start)))")
done
echo "=== summary ==="
printf '%s\n' "${summary[@]}"
exit "$failed"
