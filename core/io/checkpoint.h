#pragma once
// A Hugging Face checkpoint folder's weights: model.safetensors, or shards listed by
// model.safetensors.index.json. Tensors are zero-copy views into the memory-mapped files.
#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/io/safetensors_file.h"

namespace hqq {

class Checkpoint {
 public:
  // Opens the weights of `dir`. Throws InputError naming the file on any problem.
  static Checkpoint open(const std::filesystem::path& dir);

  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const TensorEntry& entry(const std::string& name) const;
  at::Tensor tensor(const std::string& name) const;
  // Lets the kernel drop the tensor's pages from memory (see SafetensorsFile::release).
  void release(const std::string& name) const;
  // Copies bytes [offset, offset + len) of a tensor's data with pread() (see
  // SafetensorsFile::read). Thread-safe.
  void read(const std::string& name, uint64_t offset, void* dst, size_t len) const;
  // Where a tensor lives (for error messages).
  const std::string& file_of(const std::string& name) const;
  std::vector<std::string> names() const;
  uint64_t total_bytes() const;
  const std::filesystem::path& dir() const { return dir_; }
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }
  // This checkpoint with the tensor `source` replaced by consecutive blocks of its first
  // dimension, named and sized by `parts` (the sizes must add up). The blocks are byte ranges of
  // the same file, so they stay zero-copy; `source` is no longer listed. For checkpoints that
  // fuse projections the engine keeps apart (Phi-3's qkv_proj).
  Checkpoint with_split(const std::string& source,
                        const std::vector<std::pair<std::string, int64_t>>& parts) const;

 private:
  std::filesystem::path dir_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<size_t, const TensorEntry*>> index_;
  std::vector<std::shared_ptr<const TensorEntry>> derived_;  // entries made by with_split
};

// The list of safetensors files a folder's weights live in (shards or the single file), read
// from the index when there is one. Throws InputError when there are none.
std::vector<std::filesystem::path> checkpoint_weight_files(
    const std::filesystem::path& dir, std::map<std::string, std::string>* weight_map = nullptr);

}  // namespace hqq
