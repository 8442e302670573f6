#!/usr/bin/env bash
# Installs the dependencies, then runs four parts, each timed; the script fails if any part
# fails (the later parts still run, so that one CI run shows every failing part):
#   release  the release build with -Werror (HQQ_WERROR) and all its tests: unit, CLI
#            end-to-end, GUI (offscreen), the bounded fuzz run and the benchmark smoke test;
#            then the .deb installed into a clean Debian 12 root (debootstrap).
#   asan     ASan + UBSan (preset asan): core, ui, CLI built; the CLI safety tests and the GUI
#            lifecycle / JobRunner tests (test preset asan), then the unit tests (asan-unit).
#   tsan     TSan (preset tsan): the GUI tests only (JobRunner and Qt worker threads), with
#            OMP_NUM_THREADS=1 (libgomp is not instrumented; tests/sanitizers/README.md).
#   asan_more  the other CLI and GUI tests on the asan build (test preset asan-more).
# Subsets chosen for CI (2 cores, whole run under 40 min): asan leaves out benchmarks, fuzzers,
# CUDA kernels, the package and the bad-input sweep (its RLIMIT_AS caps cannot hold ASan's shadow
# memory); what guards memory safety most directly runs first (hostile inputs through the real
# CLI, windows closed mid-job, then every unit test) and the slower end-to-end workflows under
# ASan (5-15x their release time) come last, in asan_more, with what time is left. tsan builds
# only hqq_job_runner_tests and hqq_gui_tests and leaves out Responsiveness.* (an 88 M-parameter
# timing test).
# Time: the whole run is held to 38 minutes. The release part always runs to its end; the
# sanitizer parts get what is left and a part cut short by that budget is reported as such
# without failing the run (it did not fail: it did not finish). A failure in a gating part fails
# the run.
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
  ctest --preset asan-unit -j "$jobs"
}

part_asan_more() {
  ctest --preset asan-more -j "$jobs"
}

part_tsan() {
  cmake --preset tsan -DHQQ_WERROR=ON
  cmake --build --preset tsan
  ctest --preset tsan -j "$jobs"
}

# Parts whose failure fails the run. The sanitizer parts run and are reported but do not gate
# yet: no complete run of either has been seen (tests/sanitizers/README.md has what has been);
# list them here once CI shows them green.
GATING="${HQQ_CI_GATING:-release}"
# The whole run's budget (CI allows 40 minutes for install + build + tests); timeout signals the
# part's whole process group (ninja, ctest and the tests), so the summary always prints.
BUDGET_S=$((38 * 60))

summary=()
failed=0
for part in release asan tsan asan_more; do
  echo "=== $part ==="
  start=$SECONDS
  left=$((BUDGET_S - SECONDS))
  if [ "$part" != release ] && [ "$left" -lt 120 ]; then
    summary+=("$(printf '%-9s %-32s %4d s' "$part" "skipped (no time left)" 0)")
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
    result="cut short by the time budget"
  elif [ "$rc" -ne 0 ]; then
    result="FAILED (exit $rc)"
  fi
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then
    if [[ " $GATING " == *" $part "* ]]; then failed=1; else result="$result, not gating"; fi
  fi
  summary+=("$(printf '%-9s %-32s %4d s' "$part" "$result" $((SECONDS - start)))")
done
echo "=== summary ==="
printf '%s\n' "${summary[@]}"
exit "$failed"
