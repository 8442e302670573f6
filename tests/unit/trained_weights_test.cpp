// The quantizer on trained weights: the embedded demo model's layers (trained by the project,
// scripts/train-demo-model.sh). For every bit width: the reference solver does not lose to
// min/max rounding, and the improved solver beats the reference.
#include <gtest/gtest.h>

#include "core/io/checkpoint.h"
#include "core/quant/hqq_quantizer.h"
#include "core/quant/quantize_model.h"
#include "tests/test_support.h"

namespace hqq {
namespace {

TEST(TrainedWeights, ImprovedBeatsReferenceWhichBeatsRounding) {
  const auto dir = std::filesystem::path(HQQ_TEST_DEMO_MODEL_DIR);
  ASSERT_TRUE(std::filesystem::exists(dir / "model.safetensors")) << dir;
  Checkpoint ckpt = Checkpoint::open(dir);
  for (const char* module : {"model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.v_proj",
                             "model.layers.2.mlp.down_proj", "model.layers.3.mlp.gate_proj"}) {
    at::Tensor w = ckpt.tensor(std::string(module) + ".weight").to(at::kFloat);
    for (int nbits : {1, 2, 3, 4, 8}) {
      for (int64_t group : {16, 64}) {
        for (int axis : {0, 1}) {
          QuantConfig c;
          c.nbits = nbits;
          c.group_size = group;
          c.axis = axis;
          c.round_zero = nbits == 4;
          c.optimizer = HqqOptimizer::Off;
          const double rtn = relative_error(w, dequantize(quantize(w, c)));
          c.optimizer = HqqOptimizer::Reference;
          const double ref = relative_error(w, dequantize(quantize(w, c)));
          c.optimizer = HqqOptimizer::Improved;
          const double imp = relative_error(w, dequantize(quantize(w, c)));
          const std::string what = std::string(module) + " " + std::to_string(nbits) + "-bit g" +
                                   std::to_string(group) + " axis " + std::to_string(axis);
          EXPECT_LE(ref, rtn * 1.0001) << what;
          EXPECT_LT(imp, ref) << what;
        }
      }
    }
  }
}

}  // namespace
}  // namespace hqq
