#include "core/io/safetensors_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/base/atomic_file.h"
#include "core/base/error.h"
#include "core/io/safetensors_file.h"

namespace hqq {

SafetensorsWriter::SafetensorsWriter(std::string path, std::map<std::string, std::string> metadata)
    : path_(std::move(path)), metadata_(std::move(metadata)) {}

SafetensorsWriter::~SafetensorsWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_ && !tmp_path_.empty()) ::unlink(tmp_path_.c_str());
}

void SafetensorsWriter::declare(const std::string& name, DType dtype, std::vector<int64_t> shape) {
  if (fd_ >= 0) throw Error(path_ + ": declare('" + name + "') after writing started");
  if (name == "__metadata__" || name.empty())
    throw Error(path_ + ": invalid tensor name '" + name + "'");
  for (const auto& e : entries_)
    if (e.name == name) throw Error(path_ + ": tensor '" + name + "' declared twice");
  TensorEntry e;
  e.name = name;
  e.dtype = dtype;
  e.shape = std::move(shape);
  e.begin = entries_.empty() ? 0 : entries_.back().end;
  e.end = e.begin + e.numel() * dtype_size(dtype);
  entries_.push_back(std::move(e));
}

void SafetensorsWriter::begin_data() {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (!metadata_.empty()) j["__metadata__"] = metadata_;
  for (const auto& e : entries_)
    j[e.name] = {
        {"dtype", dtype_name(e.dtype)}, {"shape", e.shape}, {"data_offsets", {e.begin, e.end}}};
  std::string header = j.dump();
  // Pad with spaces so that the data buffer starts 8-byte aligned, as the reference writer does.
  while ((8 + header.size()) % 8 != 0) header.push_back(' ');
  fd_ = make_temp(path_, &tmp_path_);
  uint8_t len[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  write_all(fd_, len, 8, tmp_path_);
  write_all(fd_, header.data(), header.size(), tmp_path_);
}

void SafetensorsWriter::write(const std::string& name, const at::Tensor& t) {
  if (fd_ < 0) begin_data();
  if (next_ >= entries_.size()) throw Error(path_ + ": tensor '" + name + "' was not declared");
  const TensorEntry& e = entries_[next_];
  if (e.name != name)
    throw Error(path_ + ": expected tensor '" + e.name + "' next, got '" + name + "'");
  if (from_scalar_type(t.scalar_type()) != e.dtype || t.sizes().vec() != e.shape)
    throw Error(path_ + ": tensor '" + name + "' does not match its declared dtype/shape");
  at::Tensor c = t.is_contiguous() && t.device().is_cpu() ? t : t.contiguous().cpu();
  write_all(fd_, c.data_ptr(), e.nbytes(), tmp_path_);
  ++next_;
}

void SafetensorsWriter::finish() {
  if (fd_ < 0) begin_data();
  if (next_ != entries_.size())
    throw Error(path_ + ": " + std::to_string(entries_.size() - next_) +
                " declared tensors not written");
  commit_temp(fd_, tmp_path_, path_);
  fd_ = -1;
  finished_ = true;
}

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  SafetensorsWriter w(path, metadata);
  for (const auto& [name, t] : tensors)
    w.declare(name, from_scalar_type(t.scalar_type()), t.sizes().vec());
  for (const auto& [name, t] : tensors) w.write(name, t);
  w.finish();
}

}  // namespace hqq
