#pragma once
// Checkpoints the benchmarks make for themselves: random weights of realistic layer shapes, and
// header-only ("sparse") multi-GB checkpoints whose data is never read.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace hqq::bench {

struct Shape {
  int64_t vocab = 32000, hidden = 2048, ffn = 5632, layers = 8, heads = 32, kv_heads = 4;
  int64_t max_positions = 2048;
  bool tied = false;
};

nlohmann::json llama_config(const Shape& s, const std::string& dtype);

// Writes config.json and model.safetensors with N(0, 0.02) weights in bf16.
void write_random_checkpoint(const std::filesystem::path& dir, const Shape& s);

// Writes config.json, `shards` safetensors files whose headers are complete but whose data is a
// hole (sparse file), and the index: a checkpoint of the full on-disk size that costs no writes.
void write_sparse_checkpoint(const std::filesystem::path& dir, const Shape& s, int shards);

}  // namespace hqq::bench
