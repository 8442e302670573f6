// Default run-time options of the sanitizer builds (HQQ_SANITIZE, presets asan and tsan), linked
// into every program so that a test binary or `hqq` run by hand behaves as under ctest. The
// ASAN_OPTIONS / UBSAN_OPTIONS / LSAN_OPTIONS / TSAN_OPTIONS variables still override these.
// Each suppression file says why each of its entries is there.

#define HQQ_SUPP(name) "suppressions=" HQQ_SANITIZER_DIR "/" name

extern "C" {

#if defined(__SANITIZE_ADDRESS__)
// A report ends the process with a non-zero status (the test fails) and names the allocation.
const char* __asan_default_options() {
  return "detect_leaks=1:check_initialization_order=1";
}
const char* __lsan_default_options() {
  return HQQ_SUPP("lsan.supp");
}
// -fno-sanitize-recover=undefined already aborts on the first UB; the stack says where.
const char* __ubsan_default_options() {
  return "print_stacktrace=1:" HQQ_SUPP("ubsan.supp");
}
#endif

#if defined(__SANITIZE_THREAD__)
// ignore_noninstrumented_modules: Qt, libtorch and libgomp are not instrumented, so TSan cannot
// see the futex-based QMutex that guards e.g. Qt's posted-event list, and the realloc/memcpy
// interceptors called from inside those libraries report races between two locked appends
// (seen: QArrayData::reallocateUnaligned inside Qt, from JobRunner::post on the worker and
// JobRunner::start on the UI thread). With it, only accesses from our instrumented code
// are checked; a race planted in JobRunner's test was still reported.
const char* __tsan_default_options() {
  return "ignore_noninstrumented_modules=1:second_deadlock_stack=1:history_size=4:" HQQ_SUPP(
      "tsan.supp");
}
#endif

}  // extern "C"
