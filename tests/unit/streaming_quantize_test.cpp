// The streaming pieces of whole-checkpoint quantization: the pread()-based fp32 reader, the
// block-wise report statistics, the one-layer-ahead prefetcher, and the end result: the same
// tensors as quantizing each layer in memory by the plain path.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include "core/base/error.h"
#include "core/io/checkpoint.h"
#include "core/io/float_reader.h"
#include "core/io/safetensors_writer.h"
#include "core/model/module_names.h"
#include "core/quant/hqq_linear.h"
#include "core/quant/layer_stats.h"
#include "core/quant/quantize_model.h"
#include "core/quant/weight_prefetcher.h"
#include "tests/test_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::vector<int64_t> aten_hist(const at::Tensor& x, double lo, double hi) {
  at::Tensor h = at::histc(x, 64, lo, hi).to(at::kLong);
  return std::vector<int64_t>(h.data_ptr<int64_t>(), h.data_ptr<int64_t>() + h.numel());
}

// A checkpoint folder with one tensor per dtype (same values), odd sizes and a NaN tensor.
fs::path write_dtypes_checkpoint(const TempDir& tmp) {
  at::manual_seed(3);
  at::Tensor v = at::randn({37, 129}) * 0.05;
  at::Tensor bad = v.clone();
  bad[5][7] = std::numeric_limits<float>::quiet_NaN();
  save_safetensors((tmp / "model.safetensors").string(),
                   {{"bf16", v.to(at::kBFloat16)},
                    {"f16", v.to(at::kHalf)},
                    {"f32", v},
                    {"f64", v.to(at::kDouble)},
                    {"nan", bad.to(at::kBFloat16)},
                    {"big", (at::randn({2100, 1100}) * 3).to(at::kBFloat16)}});  // > 1 chunk
  return tmp.path();
}

TEST(FloatReader, EqualsAtenConversionForEveryDtype) {
  TempDir tmp;
  Checkpoint ckpt = Checkpoint::open(write_dtypes_checkpoint(tmp));
  std::vector<uint8_t> staging;
  for (const char* name : {"bf16", "f16", "f32", "f64", "big"}) {
    at::Tensor want = ckpt.tensor(name).to(at::kFloat);
    at::Tensor got = at::empty(want.sizes(), at::kFloat);
    FloatRange r = read_as_float(ckpt, name, got.data_ptr<float>(), &staging);
    EXPECT_TRUE(at::equal(got, want)) << name;
    EXPECT_TRUE(r.finite) << name;
    EXPECT_EQ(r.min, want.min().item<float>()) << name;
    EXPECT_EQ(r.max, want.max().item<float>()) << name;
  }
  at::Tensor out = at::empty({37, 129}, at::kFloat);
  EXPECT_FALSE(read_as_float(ckpt, "nan", out.data_ptr<float>(), &staging).finite);
}

TEST(FloatReader, TruncatedFileNamesTheFile) {
  TempDir tmp;
  const fs::path dir = write_dtypes_checkpoint(tmp);
  Checkpoint ckpt = Checkpoint::open(dir);
  // The file shrinks after it was opened (another program rewrote it): a clear error, no crash.
  fs::resize_file(dir / "model.safetensors", 200);
  at::Tensor out = at::empty({2100, 1100}, at::kFloat);
  std::vector<uint8_t> staging;
  try {
    read_as_float(ckpt, "big", out.data_ptr<float>(), &staging);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model.safetensors"), std::string::npos) << e.what();
  }
}

TEST(WeightPrefetcher, HandsOutEachWeightInOrderAndOutOfOrder) {
  TempDir tmp;
  Checkpoint ckpt = Checkpoint::open(write_dtypes_checkpoint(tmp));
  WeightPrefetcher p(ckpt, {"bf16", "big", "f16", "f32"});
  for (const char* name : {"bf16", "big", "f32", "f16", "f64"}) {  // f32 before f16: a miss
    WeightPrefetcher::Weight w = p.take(name);
    EXPECT_TRUE(at::equal(w.w, ckpt.tensor(name).to(at::kFloat))) << name;
    EXPECT_EQ(w.range.max, ckpt.tensor(name).to(at::kFloat).max().item<float>()) << name;
  }
}

TEST(LayerStats, HistogramsEqualAtenHistc) {
  at::manual_seed(1);
  at::Tensor x = at::randn({100003});
  const double lo = x.min().item<double>(), hi = x.max().item<double>();
  // Values on the edges and outside the range, where a bin formula differs first.
  x[0] = static_cast<float>(lo), x[1] = static_cast<float>(hi), x[2] = 1e6, x[3] = -1e6;
  for (int k = 0; k <= 64; ++k) x[10 + k] = static_cast<float>(lo + (hi - lo) * k / 64.0);
  const float* p = x.data_ptr<float>();
  EXPECT_EQ(histc64(p, x.numel(), lo, hi), aten_hist(x, lo, hi));
  EXPECT_EQ(histc64(p, x.numel(), -0.5, 0.25), aten_hist(x, -0.5, 0.25));
  EXPECT_EQ(histc64(p, x.numel(), 0.1, 0.1 + 1e-12), aten_hist(x, 0.1, 0.1 + 1e-12));
}

// What the report held before the statistics were computed block by block.
LayerReport tensor_expression_stats(const at::Tensor& w, const at::Tensor& w_hat) {
  LayerReport r;
  r.sq_error = (w - w_hat).to(at::kDouble).pow(2).sum().item<double>();
  r.weight_sq = w.to(at::kDouble).pow(2).sum().item<double>();
  r.hist_min = w.min().item<double>();
  r.hist_max = w.max().item<double>();
  const double lo = r.hist_min, hi = r.hist_max > lo ? r.hist_max : lo + 1e-12;
  r.hist_original = aten_hist(w, lo, hi);
  r.hist_dequantized = aten_hist(w_hat.clamp(lo, hi), lo, hi);
  at::Tensor err = w - w_hat;
  r.err_max = std::max(err.abs().max().item<double>(), 1e-12);
  r.hist_error = aten_hist(err, -r.err_max, r.err_max);
  return r;
}

TEST(LayerStats, EqualTheTensorExpressionsForHqqAndDenseLayers) {
  at::manual_seed(2);
  for (int axis : {1, 0}) {
    for (int nbits : {4, 3, 2}) {
      at::Tensor w = at::randn({96, 320}) * 0.02;
      QuantConfig c;
      c.nbits = nbits;
      c.group_size = 32;
      c.axis = axis;
      const QuantizedTensor q = quantize(w, c);
      const at::Tensor w_hat = HqqLinear(q, at::Tensor(), at::kFloat, false).dequantized();
      const LayerReport want = tensor_expression_stats(w, w_hat);
      for (const DequantizeBlock& block : {hqq_dequantize_block(q), dense_block(w_hat)}) {
        LayerReport got;
        fill_error_stats(w.data_ptr<float>(), w.numel(), w.min().item<float>(),
                         w.max().item<float>(), block, &got);
        const std::string label = "axis " + std::to_string(axis) + " bits " + std::to_string(nbits);
        EXPECT_EQ(got.hist_original, want.hist_original) << label;
        EXPECT_EQ(got.hist_dequantized, want.hist_dequantized) << label;
        EXPECT_EQ(got.hist_error, want.hist_error) << label;
        EXPECT_EQ(got.err_max, want.err_max) << label;
        EXPECT_EQ(got.hist_min, want.hist_min) << label;
        EXPECT_EQ(got.hist_max, want.hist_max) << label;
        EXPECT_NEAR(got.sq_error, want.sq_error, 1e-12 * want.sq_error) << label;
        EXPECT_NEAR(got.weight_sq, want.weight_sq, 1e-12 * want.weight_sq) << label;
      }
    }
  }
  // A constant weight: the degenerate range goes through ATen's own handling.
  at::Tensor w = at::full({64, 64}, 0.5f);
  QuantConfig c;
  const QuantizedTensor q = quantize(w, c);
  const at::Tensor w_hat = dequantize(q);
  LayerReport got;
  fill_error_stats(w.data_ptr<float>(), w.numel(), 0.5f, 0.5f, hqq_dequantize_block(q), &got);
  const LayerReport want = tensor_expression_stats(w, w_hat);
  EXPECT_EQ(got.hist_original, want.hist_original);
  EXPECT_EQ(got.hist_error, want.hist_error);
}

// The streamed, prefetched job writes exactly the tensors the plain path makes: each layer read
// through the mapping, converted by ATen, quantized in memory and turned into transformers' HQQ
// state dict; every other tensor copied byte for byte.
TEST(QuantizeModel, StreamedOutputEqualsThePlainPathTensorForTensor) {
  TempDir tmp;
  const fs::path src_dir = test::fixtures() / "models" / "llama_chat_tok1000";
  QuantizeOptions o;
  o.source = src_dir;
  o.output = tmp / "q";
  o.plan = QuantPlan::from_json(nlohmann::json::parse(R"({
    "nbits": 4, "group_size": 16, "axis": 1, "optimizer": "improved",
    "overrides": [{"match": "mlp", "nbits": 2, "group_size": 32},
                  {"match": "model.layers.1.mlp.down_proj", "skip": true},
                  {"match": "self_attn.v_proj", "axis": 0, "nbits": 3},
                  {"match": "self_attn.k_proj", "optimizer": "reference"}]})"),
                                "plan.json");
  const QuantizeSummary s = quantize_checkpoint(o);
  Checkpoint src = Checkpoint::open(src_dir);
  Checkpoint out = Checkpoint::open(tmp / "q");
  const std::vector<std::string> modules = decoder_projections(2);
  const std::set<std::string> projections(modules.begin(), modules.end());
  std::set<std::string> expected;
  for (const auto& name : src.names()) {
    const std::string module = name.substr(0, name.rfind('.'));
    std::optional<QuantConfig> c = o.plan.config_for(module);
    if (!c || !projections.count(module) || name != module + ".weight") {
      if (expected.insert(name).second) {
        ASSERT_TRUE(out.has(name)) << name;
        EXPECT_TRUE(at::equal(out.tensor(name), src.tensor(name))) << name;
      }
      continue;
    }
    const bool has_bias = src.has(module + ".bias");
    at::Tensor bias = has_bias ? src.tensor(module + ".bias").to(c->meta_dtype) : at::Tensor();
    HqqLinear plain(quantize(src.tensor(name).to(at::kFloat), *c, name), bias, at::kFloat, false);
    for (const auto& [key, t] : hqq_state_dict(plain, *c)) {
      const std::string full = module + "." + key;
      expected.insert(full);
      ASSERT_TRUE(out.has(full)) << full;
      EXPECT_EQ(out.tensor(full).scalar_type(), t.scalar_type()) << full;
      EXPECT_TRUE(at::equal(out.tensor(full), t)) << full;
    }
  }
  std::set<std::string> written;
  for (const auto& name : out.names()) written.insert(name);
  EXPECT_EQ(written, expected);
  EXPECT_EQ(s.layers.size(), 13u);
  EXPECT_GT(s.timings.solve_s, 0);
  EXPECT_GT(s.timings.read_s, 0);
  auto report = nlohmann::json::parse(test::read_file(tmp / "q" / "hqq_report.json"));
  EXPECT_TRUE(report["timings"].contains("write_s"));
}

}  // namespace
}  // namespace hqq
