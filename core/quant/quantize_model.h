#pragma once
// Whole-checkpoint quantization, streamed: one linear layer at a time is quantized and written
// while the next one is read (weight_prefetcher.h), so peak memory stays near two layers plus
// what the writer holds, and reading overlaps solving. The result is an HF-style folder
// (config.json with a quantization_config, safetensors with transformers' HQQ key set, tokenizer
// files, and hqq_report.json). It is built in a temporary folder renamed into place at the end: a
// failed or cancelled job leaves nothing behind, and the source is only ever read.
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/base/job.h"
#include "core/model/module_names.h"
#include "core/quant/layer_report.h"
#include "core/quant/quant_plan.h"

namespace hqq {

struct QuantizeOptions {
  std::filesystem::path source, output;
  QuantPlan plan;
  bool overwrite = false;                            // replace an existing output folder
  int64_t shard_bytes = 2'000'000'000;               // target size of each output safetensors file
  std::function<void(const LayerReport&)> on_layer;  // called as each layer finishes
  // A file of `hqq calibrate` (calibration.h): the solver weighs each input channel by it.
  // Empty: calibration-free (the default). Rotated two-level layers are not weighted (their
  // inputs are mixed by the rotation); their reports say calibrated: false.
  std::filesystem::path calibration;
};

// Where the time of quantize_checkpoint went, in seconds of wall time of the job's thread,
// except read_s: the reader thread's time, overlapped with the rest (read_wait_s is the part
// the job waited for it).
struct QuantizeTimings {
  double read_s = 0, read_wait_s = 0;
  double solve_s = 0;  // the quantizer itself
  double stats_s = 0;  // the report's error figures and histograms
  double pack_s = 0;   // packing the codes and building the tensors to write
  double copy_s = 0;   // tensors copied unchanged (embeddings, norms, lm_head)
  double write_s = 0;  // writing the shards (including the fsync of each)
  nlohmann::json to_json() const;
};

struct QuantizeSummary {
  std::vector<LayerReport> layers;
  int64_t output_bytes = 0;  // all tensors written
  int64_t source_bytes = 0;
  // Over the quantized decoder projections (codes + scale/zero), as llama.cpp counts bpw; a
  // quantized lm_head (plan.lm_head_bits) is in `layers` and output_bytes but not in this.
  double bits_per_weight = 0;
  double seconds = 0;
  int64_t peak_rss_bytes = 0;
  QuantizeTimings timings;
  // The calibration used ({"file", "text", "tokens"}), or null when calibration-free.
  nlohmann::json calibration;
  nlohmann::json to_json() const;
};

QuantizeSummary quantize_checkpoint(const QuantizeOptions& opts, const JobContext& job = {});

// Writes a plain bf16 checkpoint with every HQQ layer of `source` dequantized, for tools that do
// not read HQQ. Same atomic-output rules. With `adapter` (a PEFT LoRA folder), its update
// scaling·B·A is merged into each weight it adapts.
struct ExportOptions {
  std::filesystem::path source, output;
  std::filesystem::path adapter;  // a PEFT LoRA folder merged into the weights; empty: none
  bool overwrite = false;         // replace an existing output folder (never a source)
};
void export_dequantized(const ExportOptions& o, const JobContext& job = {});

}  // namespace hqq
