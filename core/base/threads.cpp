#include "core/base/threads.h"

#include <ATen/Parallel.h>
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
  return n;
}

}  // namespace hqq
