#pragma once
// libtorch starts with one intra-op thread on this platform; every entry point sets it explicitly.

namespace hqq {

// Number of cores available to this process (affinity-aware).
int available_cores();
// Sets libtorch's intra-op thread count; n <= 0 means all available cores, and more than
// those is capped at them. Returns the count set.
int set_compute_threads(int n);

}  // namespace hqq
