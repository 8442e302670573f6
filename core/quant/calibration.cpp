#include "core/quant/calibration.h"

#include <ATen/ATen.h>

#include <memory>

#include "core/base/error.h"
#include "core/io/safetensors_file.h"
#include "core/io/safetensors_writer.h"
#include "core/model/llama_model.h"

namespace hqq {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "hqq-calibration";

// A projection that adds Σ x² per input channel of everything it multiplies, then forwards to
// the layer it wraps (which it owns while calibration runs).
class ObservingLinear final : public Linear {
 public:
  explicit ObservingLinear(std::unique_ptr<Linear> inner)
      : inner_(std::move(inner)), sum_sq_(at::zeros({inner_->in_features()}, at::kDouble)) {}
  at::Tensor forward(const at::Tensor& x) const override {
    at::Tensor xf = x.reshape({-1, x.size(-1)}).to(at::kDouble);
    sum_sq_.add_(xf.pow(2).sum(0));
    rows_ += xf.size(0);
    return inner_->forward(x);
  }
  int64_t in_features() const override { return inner_->in_features(); }
  int64_t out_features() const override { return inner_->out_features(); }
  std::string kind() const override { return inner_->kind(); }
  int64_t storage_bytes() const override { return inner_->storage_bytes(); }
  std::unique_ptr<Linear> release() { return std::move(inner_); }
  at::Tensor mean_sq() const {
    return (sum_sq_ / static_cast<double>(std::max<int64_t>(rows_, 1))).to(at::kFloat);
  }

 private:
  std::unique_ptr<Linear> inner_;
  mutable at::Tensor sum_sq_;
  mutable int64_t rows_ = 0;
};

// Wraps every projection slot of a model and puts the original layers back on destruction.
class Observers {
 public:
  explicit Observers(LlamaModel& model) {
    for (LinearSlot& s : model.linear_slots()) {
      if (s.name == "lm_head") continue;  // not quantized by these formats; its input is h
      auto obs = std::make_unique<ObservingLinear>(std::move(*s.slot));
      observers_.push_back({s.name, s.slot, obs.get()});
      *s.slot = std::move(obs);
    }
  }
  ~Observers() {
    for (auto& o : observers_) {
      std::unique_ptr<Linear> inner = o.observer->release();
      *o.slot = std::move(inner);  // destroys the observer
    }
  }
  Observers(const Observers&) = delete;
  Observers& operator=(const Observers&) = delete;
  std::map<std::string, at::Tensor> mean_sq() const {
    std::map<std::string, at::Tensor> m;
    for (const auto& o : observers_) m[o.name] = o.observer->mean_sq();
    return m;
  }

 private:
  struct Entry {
    std::string name;
    std::unique_ptr<Linear>* slot;
    ObservingLinear* observer;
  };
  std::vector<Entry> observers_;
};

}  // namespace

CalibrationStats collect_calibration(LlamaModel& model, const std::vector<int64_t>& tokens,
                                     const CalibrationOptions& opts, const JobContext& job) {
  if (opts.ctx < 2) throw InputError("calibration: --ctx must be at least 2");
  if (opts.max_tokens < opts.ctx) throw InputError("calibration: --max-tokens is below --ctx");
  const int64_t n = std::min<int64_t>(static_cast<int64_t>(tokens.size()), opts.max_tokens);
  const int64_t windows = n / opts.ctx;
  if (windows == 0)
    throw InputError("calibration: the text has " + std::to_string(tokens.size()) +
                     " tokens, fewer than one window of " + std::to_string(opts.ctx));
  at::NoGradGuard no_grad;
  Observers obs(model);
  for (int64_t w = 0; w < windows; ++w) {
    job.check();
    std::vector<int64_t> win(tokens.begin() + w * opts.ctx, tokens.begin() + (w + 1) * opts.ctx);
    model.hidden_states(at::tensor(win, at::kLong).unsqueeze(0));
    job.report({"calibrate", w + 1, windows, "window " + std::to_string(w + 1)});
  }
  CalibrationStats s;
  s.mean_sq = obs.mean_sq();
  s.tokens = windows * opts.ctx;
  s.ctx = opts.ctx;
  return s;
}

void save_calibration(const CalibrationStats& stats, const OutputFile& out) {
  refuse_output_file(out.path, out.overwrite, out.sources);
  SafetensorsWriter w(out.path.string(), {{"format", kFormat},
                                          {"tokens", std::to_string(stats.tokens)},
                                          {"ctx", std::to_string(stats.ctx)},
                                          {"text", stats.text}});
  for (const auto& [name, t] : stats.mean_sq) w.declare(name + ".mean_sq", DType::F32, {t.numel()});
  for (const auto& [name, t] : stats.mean_sq) w.write(name + ".mean_sq", t.contiguous());
  w.finish();
}

CalibrationStats load_calibration(const fs::path& path) {
  if (fs::is_directory(path))
    throw InputError(path.string() +
                     ": is a folder; --calibration takes the file `hqq calibrate` wrote");
  auto f = SafetensorsFile::open(path.string());
  auto get = [&](const char* k) { return f->header().meta(k); };
  if (get("format") != kFormat)
    throw InputError(path.string() + ": not a calibration file written by `hqq calibrate`");
  CalibrationStats s;
  try {
    s.tokens = std::stoll(get("tokens"));
    s.ctx = std::stoll(get("ctx"));
  } catch (const std::exception&) {
    throw InputError(path.string() + ": its token count or ctx is not a number");
  }
  s.text = get("text");
  const std::string suffix = ".mean_sq";
  for (const auto& e : f->header().tensors) {
    if (e.name.size() <= suffix.size() ||
        e.name.compare(e.name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    at::Tensor t = f->tensor(e).to(at::kFloat).clone();
    if (t.dim() != 1 || !at::isfinite(t).all().item<bool>() || t.min().item<float>() < 0)
      throw InputError(path.string() + ": tensor '" + e.name +
                       "' is not a vector of finite, non-negative values");
    s.mean_sq[e.name.substr(0, e.name.size() - suffix.size())] = t;
  }
  if (s.mean_sq.empty()) throw InputError(path.string() + ": holds no statistics");
  return s;
}

at::Tensor calibration_importance(const CalibrationStats& stats, const std::string& module,
                                  int64_t in_features, const fs::path& file) {
  auto it = stats.mean_sq.find(module);
  if (it == stats.mean_sq.end())
    throw InputError(file.string() + ": has no statistics for '" + module +
                     "' (collected on another model?)");
  if (it->second.numel() != in_features)
    throw InputError(file.string() + ": '" + module + "' has " +
                     std::to_string(it->second.numel()) + " statistics, the layer " +
                     std::to_string(in_features) + " inputs (collected on another model?)");
  const at::Tensor& m = it->second;
  const double mean = m.to(at::kDouble).mean().item<double>();
  if (!(mean > 0)) return at::ones({in_features}, at::kFloat);
  return (m / mean).clamp_min(1e-3).to(at::kFloat);
}

}  // namespace hqq
