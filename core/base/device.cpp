#include "core/base/device.h"

#include <ATen/Context.h>

#include <cstdlib>

#include "core/base/error.h"

namespace hqq {
namespace {

int cuda_devices() {
  if (!at::globalContext().hasCUDA()) return 0;
  return static_cast<int>(at::getNumGPUs());
}

std::string no_cuda_reason() {
  if (!at::globalContext().hasCUDA()) return "this libtorch has no CUDA";
  return "no CUDA device is present";
}

// The model's forward, KV cache and sampler have not been run on a GPU in this build; until they
// are (issue: run on the GPU), auto stays on the CPU and cuda is refused with this reason.
constexpr bool kCudaExecution = false;

}  // namespace

std::string Device::name() const {
  return is_cuda() ? "cuda:" + std::to_string(index) : "cpu";
}

Device resolve_device(const std::string& spec) {
  Device d;
  if (spec == "cpu") return d;
  if (spec == "auto" || spec.empty()) {
    if (cuda_devices() == 0) {
      d.note = "no CUDA device: " + no_cuda_reason();
    } else if (!kCudaExecution) {
      d.note = "CUDA present, but models do not run on CUDA in this build yet";
    } else {
      d.kind = Device::Kind::Cuda;
    }
    return d;
  }
  if (spec.rfind("cuda", 0) != 0)
    throw InputError("--device " + spec + ": unknown device (use auto, cpu, cuda or cuda:N)");
  int index = 0;
  if (spec.size() > 4) {
    const std::string n = spec.substr(4);
    char* end = nullptr;
    const long v = n.size() > 1 && n[0] == ':' ? std::strtol(n.c_str() + 1, &end, 10) : -1;
    if (v < 0 || v > 255 || !end || *end != '\0')
      throw InputError("--device " + spec + ": unknown device (use auto, cpu, cuda or cuda:N)");
    index = static_cast<int>(v);
  }
  const int n = cuda_devices();
  if (n == 0) throw InputError("--device " + spec + ": " + no_cuda_reason());
  if (index >= n)
    throw InputError("--device " + spec + ": there are " + std::to_string(n) + " CUDA device(s)");
  d.kind = Device::Kind::Cuda;
  d.index = index;
  return d;
}

void require_runnable(const Device& d) {
  if (d.is_cuda() && !kCudaExecution)
    throw InputError("--device " + d.name() +
                     ": models do not run on CUDA in this build yet (use --device cpu)");
}

std::string cuda_status() {
  const int n = cuda_devices();
  if (n == 0) return "no CUDA device (" + no_cuda_reason() + ")";
  return "CUDA: " + std::to_string(n) + " device(s)";
}

}  // namespace hqq
