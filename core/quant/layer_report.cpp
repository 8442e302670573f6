#include "core/quant/layer_report.h"

#include "core/base/error.h"
#include "core/base/json_file.h"

namespace hqq {

nlohmann::json LayerReport::to_json() const {
  return {{"name", name},
          {"shape", shape},
          {"nbits", nbits},
          {"group_size", group_size},
          {"axis", axis},
          {"optimizer", optimizer},
          {"calibrated", calibrated},
          {"rel_error", rel_error},
          {"sq_error", sq_error},
          {"weight_sq", weight_sq},
          {"seconds", seconds},
          {"stored_bytes", stored_bytes},
          {"parameters", parameters},
          {"histogram",
           {{"min", hist_min},
            {"max", hist_max},
            {"original", hist_original},
            {"dequantized", hist_dequantized}}},
          {"error_histogram", {{"max", err_max}, {"counts", hist_error}}},
          {"levels", levels}};
}

LayerReport LayerReport::from_json(const nlohmann::json& j, const std::string& label) {
  try {
    LayerReport r;
    r.name = j.at("name").get<std::string>();
    r.shape = j.at("shape").get<std::vector<int64_t>>();
    r.nbits = j.at("nbits").get<int>();
    r.group_size = j.at("group_size").get<int64_t>();
    r.axis = j.at("axis").get<int>();
    r.optimizer = j.at("optimizer").get<std::string>();
    r.calibrated = j.value("calibrated", false);  // absent before calibration existed
    r.rel_error = j.at("rel_error").get<double>();
    r.sq_error = j.at("sq_error").get<double>();
    r.weight_sq = j.value("weight_sq", 0.0);  // absent in reports of 0.1.0
    r.seconds = j.at("seconds").get<double>();
    r.stored_bytes = j.at("stored_bytes").get<int64_t>();
    r.parameters = j.at("parameters").get<int64_t>();
    const auto& h = j.at("histogram");
    r.hist_min = h.at("min").get<double>();
    r.hist_max = h.at("max").get<double>();
    r.hist_original = h.at("original").get<std::vector<int64_t>>();
    r.hist_dequantized = h.at("dequantized").get<std::vector<int64_t>>();
    if (j.contains("error_histogram")) {  // reports of older versions lack these
      r.err_max = j["error_histogram"].at("max").get<double>();
      r.hist_error = j["error_histogram"].at("counts").get<std::vector<int64_t>>();
    }
    if (j.contains("levels")) r.levels = j["levels"].get<std::vector<double>>();
    return r;
  } catch (const nlohmann::json::exception& e) {
    fail_input(label, std::string("malformed layer report: ") + e.what());
  }
}

std::vector<LayerReport> read_layer_reports(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "hqq_report.json";
  if (!std::filesystem::exists(path)) return {};
  nlohmann::json j = read_json_file(path);
  std::vector<LayerReport> out;
  if (!j.contains("layers") || !j["layers"].is_array())
    fail_input(path.string(), "no \"layers\" array");
  for (const auto& l : j["layers"]) out.push_back(LayerReport::from_json(l, path.string()));
  return out;
}

}  // namespace hqq
