#pragma once
// Reads one tensor of a checkpoint as fp32 into memory the caller owns, with large sequential
// pread()s through a reused staging buffer: nothing is allocated per tensor and no page of the
// source is mapped, so a job streaming a checkpoint many times the size of memory costs neither
// page faults nor madvise calls. The range and finiteness of the values come out of the same
// pass. The values equal at::Tensor::to(at::kFloat) of the tensor bit for bit.
#include <cstdint>
#include <string>
#include <vector>

namespace hqq {

class Checkpoint;

struct FloatRange {
  float min = 0, max = 0;  // over the values (meaningful when finite)
  bool finite = true;      // no NaN or infinity
};

// Writes the tensor's numel values to `dst`. `staging` is resized as needed and reused.
// Throws InputError naming the file for unreadable bytes. BF16, F16 and F32 are read with
// pread(); other dtypes go through the mapping and ATen's conversion.
FloatRange read_as_float(const Checkpoint& ckpt, const std::string& name, float* dst,
                         std::vector<uint8_t>* staging);

}  // namespace hqq
