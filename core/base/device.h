#pragma once
// Where a job computes: `--device auto|cpu|cuda[:N]` on every command and the Model page's choice.
// auto is the first CUDA device when the libtorch in use has CUDA, a device is present and this
// build can run models there; otherwise the CPU, with the reason kept for the model card.
#include <string>

namespace hqq {

struct Device {
  enum class Kind { Cpu, Cuda };
  Kind kind = Kind::Cpu;
  int index = 0;
  std::string note;  // why auto chose what it chose ("no CUDA device: ..."), empty otherwise

  bool is_cuda() const { return kind == Kind::Cuda; }
  std::string name() const;  // "cpu", "cuda:0"
};

// Parses and checks a device name. Throws InputError for an unknown name, for cuda when this
// libtorch has no CUDA or no such device is present.
Device resolve_device(const std::string& spec);

// Throws InputError when models cannot run on `d` in this build (CUDA execution of the model is
// not there yet: the CUDA kernels exist but the model's forward has not run on a GPU).
void require_runnable(const Device& d);

// "CUDA: 1 device (NVIDIA ...)" or "no CUDA device (this libtorch has no CUDA)".
std::string cuda_status();

}  // namespace hqq
