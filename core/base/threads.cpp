#include "core/base/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <sched.h>

#include <thread>

namespace hqq {

int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

int set_compute_threads(int n) {
  // More threads than cores only thrash (OpenMP starts each one): cap at the machine.
  if (n <= 0 || n > available_cores()) n = available_cores();
  at::set_num_threads(n);
  // Debian's libtorch multiplies fp32 matrices with OpenBLAS, whose own pthread pool starts one
  // thread per core whatever ATen was told: without this, --threads 1 still ran GEMMs on two
  // cores and its threads competed with ATen's OpenMP team. Looked up at run time because the
  // BLAS is libtorch's choice, not ours (absent: nothing to do).
  using SetThreads = void (*)(int);
  if (auto* f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(n);
  return n;
}

}  // namespace hqq
