#pragma once
// Calibration, as an explicit option (the default stays calibration-free): per-input-channel
// activation statistics of every projection, collected by running the full-precision model on
// a text (`hqq calibrate`), and the importance weights `hqq quantize --calibration` gives the
// solver from them, so that the inputs that carry the most signal are quantized most carefully
// (the weighting llama.cpp's imatrix gives its k-quants). Stored as a safetensors file: one fp32
// tensor "<module>.mean_sq" [in_features] per projection, E[x_i²] over the tokens, and metadata
// format = hqq-calibration, tokens, ctx, text.
#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/base/job.h"
#include "core/io/output_folder.h"

namespace hqq {

class LlamaModel;

struct CalibrationStats {
  std::map<std::string, at::Tensor> mean_sq;  // module name → E[x_i²], fp32 [in_features]
  int64_t tokens = 0;                         // tokens the statistics were collected on
  int64_t ctx = 0;                            // window length they were run in
  std::string text;                           // the text's file name (for reports)
};

struct CalibrationOptions {
  int64_t ctx = 512;           // tokens per forward pass (windows do not overlap)
  int64_t max_tokens = 65536;  // at most this many tokens of the text are used
};

// Runs `model` over `tokens` in windows and records every projection's E[x²]. The model's layers
// are wrapped while it runs and restored afterwards, also when the job stops or fails.
// Reports progress as "calibrate" (windows) and stops between windows.
CalibrationStats collect_calibration(LlamaModel& model, const std::vector<int64_t>& tokens,
                                     const CalibrationOptions& opts, const JobContext& job = {});

// Writes out.path atomically (temporary file + rename) after refusing an output over one of
// out.sources (the model's folder, the text) or an existing file without out.overwrite.
void save_calibration(const CalibrationStats& stats, const OutputFile& out);
// Throws InputError naming the file when it is not a calibration file or a tensor is bad.
CalibrationStats load_calibration(const std::filesystem::path& path);

// The solver's weights for one module of `in_features` inputs: E[x²] divided by its mean and
// floored at 1e-3 (no input is ignored entirely; a dead channel still costs a little). Throws
// InputError naming `file` when the module is missing or its size differs.
at::Tensor calibration_importance(const CalibrationStats& stats, const std::string& module,
                                  int64_t in_features, const std::filesystem::path& file);

}  // namespace hqq
