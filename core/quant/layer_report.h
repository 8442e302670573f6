#pragma once
// What quantizing one layer did: its settings, error, timing, and histograms of the weights
// before and after. Written to hqq_report.json beside a quantized model and shown by the GUI's
// Inspect page. Plain data, no ATen, so UI headers can hold it.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hqq {

struct LayerReport {
  std::string name;  // module, e.g. "model.layers.0.self_attn.q_proj"
  std::vector<int64_t> shape;
  int nbits = 0;
  int64_t group_size = 0;
  int axis = 1;
  std::string optimizer;
  bool calibrated = false;  // the solver weighed its error by calibration statistics
  double rel_error = 0;     // ||W - Ŵ||_F / ||W||_F
  double sq_error = 0;      // ||W - Ŵ||_F²
  double weight_sq = 0;     // ||W||_F², so totals stay right for layers with zero error
  double seconds = 0;
  int64_t stored_bytes = 0;
  int64_t parameters = 0;
  // 64-bin histograms over [hist_min, hist_max] of the original and the dequantized weights.
  double hist_min = 0, hist_max = 0;
  std::vector<int64_t> hist_original, hist_dequantized;
  // 64-bin histogram of the error W - Ŵ over [-err_max, err_max].
  double err_max = 0;
  std::vector<int64_t> hist_error;
  // The 2^nbits values a code can take in the group whose scale is the median of the layer's:
  // what the "levels" of a group-wise quantized layer look like.
  std::vector<double> levels;
  nlohmann::json to_json() const;
  // Throws InputError naming `label` when a field is missing or has the wrong type.
  static LayerReport from_json(const nlohmann::json& j, const std::string& label);
};

// The per-layer reports of a quantized folder's hqq_report.json (empty when it has none).
std::vector<LayerReport> read_layer_reports(const std::filesystem::path& model_dir);

}  // namespace hqq
