#pragma once
// Streaming safetensors writer: declare every tensor first (so that the header is known), then
// write their bytes one by one in declaration order; memory use stays at one tensor. The data goes
// to a temporary file beside the target that is renamed over it only by finish(); a writer
// destroyed before finish() removes its temporary file, leaving no partial output.
#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "core/base/atomic_file.h"
#include "core/io/safetensors_header.h"

namespace hqq {

class SafetensorsWriter {
 public:
  explicit SafetensorsWriter(std::string path, std::map<std::string, std::string> metadata = {});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  void declare(const std::string& name, DType dtype, std::vector<int64_t> shape);
  // Writes the next declared tensor; its name, dtype and shape must match the declaration.
  void write(const std::string& name, const at::Tensor& t);
  // Flushes, fsyncs and renames the temporary file to the target path.
  void finish();

 private:
  void begin_data();
  std::string path_, tmp_path_;
  std::map<std::string, std::string> metadata_;
  std::vector<TensorEntry> entries_;
  size_t next_ = 0;
  int fd_ = -1;
  bool finished_ = false;
};

// Writes all tensors at once (convenience for small outputs).
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace hqq
