#include "core/io/checkpoint.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/base/error.h"
#include "core/base/json_file.h"

namespace hqq {

namespace fs = std::filesystem;

std::vector<fs::path> checkpoint_weight_files(const fs::path& dir,
                                              std::map<std::string, std::string>* weight_map) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) fail_input(dir.string(), "does not exist");
  if (!fs::is_directory(dir, ec))
    fail_input(dir.string(), "is a file, not a folder; a model folder is expected here");
  fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(index)) {
    nlohmann::json j = read_json_file(index);
    auto wm = j.find("weight_map");
    if (wm == j.end() || !wm->is_object())
      fail_input(index.string(), "missing \"weight_map\" object");
    std::vector<fs::path> files;
    std::set<std::string> seen;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string())
        fail_input(index.string(), "weight_map entry '" + it.key() + "' is not a file name");
      std::string file = it.value().get<std::string>();
      if (file.find('/') != std::string::npos || file == ".." || file.empty())
        fail_input(index.string(),
                   "weight_map entry '" + it.key() + "' names an invalid file '" + file + "'");
      if (weight_map) (*weight_map)[it.key()] = file;
      if (seen.insert(file).second) {
        if (!fs::exists(dir / file))
          fail_input(index.string(), "shard '" + file + "' does not exist");
        files.push_back(dir / file);
      }
    }
    if (files.empty()) fail_input(index.string(), "weight_map is empty");
    return files;
  }
  if (fs::exists(dir / "model.safetensors")) return {dir / "model.safetensors"};
  if (fs::exists(dir / "pytorch_model.bin") || fs::exists(dir / "pytorch_model.bin.index.json"))
    fail_input(dir.string(),
               "only PyTorch .bin weights found; convert the checkpoint to safetensors");
  fail_input(dir.string(), "no model.safetensors or model.safetensors.index.json found");
}

Checkpoint Checkpoint::open(const fs::path& dir) {
  Checkpoint c;
  c.dir_ = dir;
  std::map<std::string, std::string> weight_map;
  for (const auto& f : checkpoint_weight_files(dir, &weight_map))
    c.files_.push_back(SafetensorsFile::open(f.string()));
  // A name in two shards is ambiguous (which bytes are the weight?) even when the index picks
  // one: tools disagree on which wins, so such a checkpoint is refused.
  std::map<std::string, size_t> seen_in;
  for (size_t i = 0; i < c.files_.size(); ++i) {
    const auto& file = *c.files_[i];
    std::string fname = fs::path(file.path()).filename().string();
    for (const auto& e : file.header().tensors) {
      if (auto [it, fresh] = seen_in.emplace(e.name, i); !fresh)
        fail_input(file.path(), "tensor '" + e.name + "' also appears in " +
                                    c.files_[it->second]->path() + " (duplicate tensor name)");
      if (!weight_map.empty()) {
        auto it = weight_map.find(e.name);
        if (it == weight_map.end() || it->second != fname)
          continue;  // the index is authoritative about which shard owns a tensor
      }
      if (!c.index_.emplace(e.name, std::make_pair(i, &e)).second)
        fail_input(file.path(), "tensor '" + e.name + "' also appears in another shard");
    }
  }
  for (const auto& [name, file] : weight_map)
    if (!c.index_.count(name))
      fail_input((dir / file).string(),
                 "tensor '" + name + "' listed in the index is missing from this shard");
  return c;
}

const TensorEntry& Checkpoint::entry(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail_input(dir_.string(), "checkpoint has no tensor '" + name + "'");
  return *it->second.second;
}

at::Tensor Checkpoint::tensor(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail_input(dir_.string(), "checkpoint has no tensor '" + name + "'");
  return files_[it->second.first]->tensor(*it->second.second);
}

void Checkpoint::release(const std::string& name) const {
  auto it = index_.find(name);
  if (it != index_.end()) files_[it->second.first]->release(*it->second.second);
}

void Checkpoint::read(const std::string& name, uint64_t offset, void* dst, size_t len) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail_input(dir_.string(), "checkpoint has no tensor '" + name + "'");
  files_[it->second.first]->read(*it->second.second, offset, dst, len);
}

const std::string& Checkpoint::file_of(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail_input(dir_.string(), "checkpoint has no tensor '" + name + "'");
  return files_[it->second.first]->path();
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : index_) out.push_back(name);
  return out;
}

Checkpoint Checkpoint::with_split(const std::string& source,
                                  const std::vector<std::pair<std::string, int64_t>>& parts) const {
  const TensorEntry& e = entry(source);
  const size_t file = index_.at(source).first;
  int64_t rows = 0;
  for (const auto& part : parts) rows += part.second;
  if (e.shape.empty() || e.shape[0] != rows)
    fail_input(file_of(source), "tensor '" + source + "' has " +
                                    (e.shape.empty() ? std::string("no rows")
                                                     : std::to_string(e.shape[0]) + " rows") +
                                    " but config.json implies " + std::to_string(rows));
  const uint64_t row_bytes = e.nbytes() / static_cast<uint64_t>(rows);
  Checkpoint c = *this;
  c.index_.erase(source);
  uint64_t begin = e.begin;
  for (const auto& [name, n] : parts) {
    auto part = std::make_shared<TensorEntry>(e);
    part->name = name;
    part->shape[0] = n;
    part->begin = begin;
    part->end = begin + row_bytes * static_cast<uint64_t>(n);
    begin = part->end;
    if (!c.index_.emplace(name, std::make_pair(file, part.get())).second)
      fail_input(file_of(source),
                 "tensor '" + name + "' is stored both fused in '" + source + "' and on its own");
    c.derived_.push_back(std::move(part));
  }
  return c;
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t n = 0;
  for (const auto& [_, loc] : index_) n += loc.second->nbytes();
  return n;
}

}  // namespace hqq
