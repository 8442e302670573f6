#pragma once
// A memory-mapped safetensors file whose tensors are handed out as zero-copy at::Tensor views.
// The mapping is private (copy-on-write): an in-place change to a view never reaches the file,
// so a source checkpoint can never be modified through it. Views keep the mapping alive.
// read() copies a tensor's bytes with pread() instead: a streaming job reads each byte once in
// large sequential requests, with none of the page faults and madvise calls of the mapping.
#include <ATen/ATen.h>

#include <memory>
#include <string>

#include "core/io/safetensors_header.h"

namespace hqq {

at::ScalarType to_scalar_type(DType t);
DType from_scalar_type(at::ScalarType t);  // throws Error for types safetensors cannot hold

class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const SafetensorsHeader& header() const { return header_; }
  // A view of the named tensor (a copy only when its bytes are misaligned for its dtype).
  // Throws InputError naming the file when the tensor is absent.
  at::Tensor tensor(const std::string& name) const;
  at::Tensor tensor(const TensorEntry& entry) const;
  // Drops the resident pages of a tensor's bytes (they are read again if touched), so that a
  // streaming job over a large checkpoint does not accumulate the whole file in memory.
  void release(const TensorEntry& entry) const;
  // Copies `len` bytes of the tensor's data, from byte `offset` of it, into `dst`. Thread-safe.
  // Throws InputError naming the file when the bytes cannot be read.
  void read(const TensorEntry& entry, uint64_t offset, void* dst, size_t len) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  SafetensorsHeader header_;
  void* map_ = nullptr;
  size_t map_len_ = 0;
  int fd_ = -1;  // kept open for read()
  std::weak_ptr<SafetensorsFile> self_;
};

}  // namespace hqq
