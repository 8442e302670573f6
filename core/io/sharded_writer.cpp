#include "core/io/sharded_writer.h"

#include <cstdio>
#include <future>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/io/safetensors_file.h"
#include "core/io/safetensors_writer.h"

namespace hqq {

int64_t OutputTensor::bytes() const {
  int64_t n = c10::elementSize(dtype);
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t write_sharded(const std::filesystem::path& folder, const std::vector<WriteUnit>& units,
                      int64_t shard_bytes, const JobContext& job) {
  // Assign whole units to shards in order.
  std::vector<std::vector<size_t>> shards;
  int64_t current = 0, total = 0;
  for (size_t u = 0; u < units.size(); ++u) {
    int64_t b = 0;
    for (const auto& t : units[u].tensors) b += t.bytes();
    if (shards.empty() || (current > 0 && current + b > shard_bytes)) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(u);
    current += b;
    total += b;
  }
  const size_t n = shards.size();
  auto file_name = [n](size_t i) {
    if (n == 1) return std::string("model.safetensors");
    char buf[64];
    std::snprintf(buf, sizeof(buf), "model-%05zu-of-%05zu.safetensors", i + 1, n);
    return std::string(buf);
  };
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t s = 0; s < n; ++s) {
    SafetensorsWriter w((folder / file_name(s)).string(), {{"format", "pt"}});
    for (size_t u : shards[s])
      for (const auto& t : units[u].tensors) {
        w.declare(t.name, from_scalar_type(t.dtype), t.shape);
        weight_map[t.name] = file_name(s);
      }
    // Unit k is written by a second thread while unit k+1 is produced. Declared after `w`, so
    // that on any exit (an error, a cancel) the write in flight ends before `w` is destroyed.
    std::future<void> writing;
    for (size_t u : shards[s]) {
      job.check();
      std::vector<at::Tensor> produced = units[u].produce();
      if (produced.size() != units[u].tensors.size())
        throw Error("write_sharded: a unit produced the wrong count");
      if (writing.valid()) writing.get();  // rethrows the previous write's error
      writing = std::async(std::launch::async, [&w, &unit = units[u], t = std::move(produced)] {
        for (size_t k = 0; k < t.size(); ++k) w.write(unit.tensors[k].name, t[k]);
      });
    }
    if (writing.valid()) writing.get();
    w.finish();
  }
  if (n > 1) {
    nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    write_file_atomic((folder / "model.safetensors.index.json").string(), index.dump(2));
  }
  return total;
}

}  // namespace hqq
