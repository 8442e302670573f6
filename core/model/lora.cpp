#include "core/model/lora.h"

#include <cmath>

#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/io/safetensors_file.h"
#include "core/io/safetensors_writer.h"
#include "core/model/llama_model.h"
#include "core/model/module_names.h"

namespace hqq {

namespace fs = std::filesystem;

namespace {
const std::string kPeftPrefix = "base_model.model.";

template <typename T>
T pattern_value(const std::map<std::string, T>& patterns, const std::string& module, T fallback) {
  for (const auto& [pattern, v] : patterns)
    if (module_matches(module, pattern)) fallback = v;
  return fallback;
}

bool targeted(const LoraConfig& c, const std::string& module) {
  for (const auto& t : c.target_modules)
    if (t == "all-linear" || module_matches(module, t)) return true;
  return false;
}
}  // namespace

nlohmann::json LoraConfig::to_peft_json() const {
  return {{"peft_type", "LORA"},
          {"task_type", "CAUSAL_LM"},
          {"r", r},
          {"lora_alpha", alpha},
          {"lora_dropout", dropout},
          {"target_modules", target_modules},
          {"rank_pattern", rank_pattern},
          {"alpha_pattern", alpha_pattern},
          {"bias", "none"},
          {"fan_in_fan_out", false},
          {"use_rslora", false},
          {"use_dora", false},
          {"inference_mode", true},
          {"base_model_name_or_path", base_model_name_or_path}};
}

LoraConfig LoraConfig::from_peft_json(const nlohmann::json& j, const std::string& label) {
  if (!j.is_object()) fail_input(label, "not a JSON object");
  if (json_string(j, "peft_type", "", label) != "LORA") fail_input(label, "peft_type is not LORA");
  if (json_bool(j, "use_dora", false, label)) fail_input(label, "DoRA adapters are not supported");
  if (json_bool(j, "use_rslora", false, label))
    fail_input(label, "rsLoRA adapters are not supported");
  if (json_string(j, "bias", "none", label) != "none")
    fail_input(label, "adapters with trained biases are not supported");
  LoraConfig c;
  c.r = json_integer(j, "r", 0, label);
  if (c.r < 1 || c.r > (int64_t{1} << 16))
    fail_input(label, "\"r\" must be a positive integer (at most 65536)");
  c.alpha = json_number(j, "lora_alpha", static_cast<double>(c.r), label);
  if (!(c.alpha > 0) || !std::isfinite(c.alpha))
    fail_input(label, "\"lora_alpha\" must be a positive number");
  c.dropout = json_number(j, "lora_dropout", 0.0, label);
  if (!(c.dropout >= 0 && c.dropout < 1)) fail_input(label, "\"lora_dropout\" must be in [0, 1)");
  if (auto t = j.find("target_modules"); t != j.end()) {
    c.target_modules.clear();
    if (t->is_string())
      c.target_modules.push_back(t->get<std::string>());
    else if (t->is_array())
      for (const auto& e : *t)
        if (e.is_string()) c.target_modules.push_back(e.get<std::string>());
    if (c.target_modules.empty()) fail_input(label, "\"target_modules\" is empty");
  }
  if (auto rp = j.find("rank_pattern"); rp != j.end() && rp->is_object())
    for (auto it = rp->begin(); it != rp->end(); ++it) {
      const int64_t r = json_integer(*rp, it.key(), 0, label + ": rank_pattern");
      if (r < 1 || r > (int64_t{1} << 16))
        fail_input(label, "rank_pattern \"" + it.key() + "\" must be a positive integer");
      c.rank_pattern[it.key()] = r;
    }
  if (auto ap = j.find("alpha_pattern"); ap != j.end() && ap->is_object())
    for (auto it = ap->begin(); it != ap->end(); ++it) {
      const double a = json_number(*ap, it.key(), 0, label + ": alpha_pattern");
      if (!(a > 0)) fail_input(label, "alpha_pattern \"" + it.key() + "\" must be positive");
      c.alpha_pattern[it.key()] = a;
    }
  c.base_model_name_or_path = json_string(j, "base_model_name_or_path", "", label);
  return c;
}

LoraLinear::LoraLinear(std::unique_ptr<Linear> base, int64_t r, double alpha, double dropout,
                       uint64_t seed)
    : base_(std::move(base)), scaling_(alpha / static_cast<double>(r)), dropout_(dropout) {
  if (r < 1) throw InputError("LoRA rank must be at least 1");
  const int64_t in = base_->in_features(), out = base_->out_features();
  // PEFT's init: A ~ kaiming_uniform(a = sqrt(5)) on [r, in], i.e. U(-1/sqrt(in), 1/sqrt(in)); B =
  // 0.
  at::manual_seed(seed);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  a_ = (at::rand({r, in}) * 2 - 1).mul_(bound).set_requires_grad(true);
  b_ = at::zeros({out, r}).set_requires_grad(true);
}

at::Tensor LoraLinear::forward(const at::Tensor& x) const {
  at::Tensor y = base_->forward(x);
  at::Tensor h = x.to(a_.scalar_type());
  if (training_ && dropout_ > 0) h = at::dropout(h, dropout_, /*train=*/true);
  at::Tensor update = at::matmul(at::matmul(h, a_.t()), b_.t()) * scaling_;
  return y + update.to(y.scalar_type());
}

int64_t LoraLinear::storage_bytes() const {
  return base_->storage_bytes() + (a_.numel() + b_.numel()) * a_.element_size();
}

std::vector<std::pair<std::string, at::Tensor*>> LoraLinear::parameters() {
  return {{"lora_A.weight", &a_}, {"lora_B.weight", &b_}};
}

at::Tensor LoraLinear::delta() const {
  return at::matmul(b_.detach(), a_.detach()) * scaling_;
}

int64_t apply_lora(LlamaModel& model, const LoraConfig& cfg, uint64_t seed) {
  int64_t n = 0;
  for (auto& slot : model.linear_slots()) {
    if (slot.name == "lm_head" || !targeted(cfg, slot.name)) continue;
    if (dynamic_cast<LoraLinear*>(slot.slot->get()))
      throw InputError("'" + slot.name + "' already has an adapter");
    const int64_t r = pattern_value(cfg.rank_pattern, slot.name, cfg.r);
    const double alpha = pattern_value(cfg.alpha_pattern, slot.name, cfg.alpha);
    *slot.slot = std::make_unique<LoraLinear>(std::move(*slot.slot), r, alpha, cfg.dropout,
                                              seed + static_cast<uint64_t>(n));
    ++n;
  }
  if (n == 0) throw InputError("no module matches the LoRA target_modules");
  return n;
}

std::vector<std::pair<std::string, LoraLinear*>> lora_layers(LlamaModel& model) {
  std::vector<std::pair<std::string, LoraLinear*>> out;
  for (auto& slot : model.linear_slots())
    if (auto* l = dynamic_cast<LoraLinear*>(slot.slot->get())) out.push_back({slot.name, l});
  return out;
}

void set_lora_training(LlamaModel& model, bool on) {
  for (auto& [name, l] : lora_layers(model)) l->set_training(on);
}

void save_adapter(LlamaModel& model, const LoraConfig& cfg, const fs::path& dir) {
  fs::create_directories(dir);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, l] : lora_layers(model)) {
    tensors.push_back({kPeftPrefix + name + ".lora_A.weight", l->lora_a().detach().contiguous()});
    tensors.push_back({kPeftPrefix + name + ".lora_B.weight", l->lora_b().detach().contiguous()});
  }
  if (tensors.empty()) throw Error("save_adapter: the model has no LoRA layers");
  save_safetensors((dir / "adapter_model.safetensors").string(), tensors, {{"format", "pt"}});
  write_file_atomic((dir / "adapter_config.json").string(), cfg.to_peft_json().dump(2));
}

namespace {
// An adapter folder's config and weights file, with the folder named when it is not one.
std::pair<LoraConfig, std::shared_ptr<SafetensorsFile>> open_adapter(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) fail_input(dir.string(), "adapter folder does not exist");
  if (!fs::is_directory(dir, ec))
    fail_input(dir.string(), "is a file, not a folder; a PEFT adapter folder is expected here");
  const fs::path cfg_path = dir / "adapter_config.json";
  if (!fs::exists(cfg_path))
    fail_input(dir.string(), "no adapter_config.json: not a PEFT adapter folder");
  LoraConfig cfg = LoraConfig::from_peft_json(read_json_file(cfg_path), cfg_path.string());
  return {cfg, SafetensorsFile::open((dir / "adapter_model.safetensors").string())};
}
}  // namespace

LoraConfig load_adapter(LlamaModel& model, const fs::path& dir) {
  auto [cfg, file] = open_adapter(dir);
  const fs::path weights = file->path();
  apply_lora(model, cfg);
  for (auto& [name, l] : lora_layers(model)) {
    for (auto [suffix, target] :
         {std::pair<const char*, at::Tensor*>{".lora_A.weight", &l->lora_a()},
          std::pair<const char*, at::Tensor*>{".lora_B.weight", &l->lora_b()}}) {
      const std::string key = kPeftPrefix + name + suffix;
      const TensorEntry* e = file->header().find(key);
      if (!e) fail_input(weights.string(), "missing '" + key + "'");
      if (e->shape != target->sizes().vec())
        fail_input(weights.string(),
                   "'" + key + "' has a shape that does not fit the model and rank");
      *target = file->tensor(*e).to(at::kFloat).clone();
      if (!at::isfinite(*target).all().item<bool>())
        fail_input(weights.string(), "'" + key + "' holds values that are not finite (NaN or inf)");
    }
  }
  return cfg;
}

std::map<std::string, at::Tensor> adapter_deltas(const fs::path& dir) {
  auto [cfg, file] = open_adapter(dir);
  const fs::path weights = file->path();
  std::map<std::string, at::Tensor> out;
  const std::string suffix = ".lora_A.weight";
  for (const auto& e : file->header().tensors) {
    if (e.name.rfind(kPeftPrefix, 0) != 0 || e.name.size() <= suffix.size() ||
        e.name.compare(e.name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string module =
        e.name.substr(kPeftPrefix.size(), e.name.size() - kPeftPrefix.size() - suffix.size());
    const TensorEntry* b = file->header().find(kPeftPrefix + module + ".lora_B.weight");
    if (!b) fail_input(weights.string(), "'" + module + "' has lora_A but no lora_B");
    at::Tensor A = file->tensor(e).to(at::kFloat), B = file->tensor(*b).to(at::kFloat);
    if (A.dim() != 2 || B.dim() != 2 || A.size(0) < 1)
      fail_input(weights.string(), "'" + module + "': lora_A and lora_B must be matrices");
    if (!at::isfinite(A).all().item<bool>() || !at::isfinite(B).all().item<bool>())
      fail_input(weights.string(),
                 "'" + module + "' holds values that are not finite (NaN or inf)");
    if (B.size(1) != A.size(0))
      fail_input(weights.string(), "'" + module + "': lora_A and lora_B ranks differ");
    const double alpha = pattern_value(cfg.alpha_pattern, module, cfg.alpha);
    out[module] = at::matmul(B, A) * (alpha / static_cast<double>(A.size(0)));
  }
  if (out.empty()) fail_input(weights.string(), "holds no LoRA weights");
  return out;
}

}  // namespace hqq
