#pragma once
// Small random-weight checkpoints shaped like Llama 3.2 and Qwen2.5 (a tiny hidden size, the
// real vocabulary) beside the real tokenizer.json of ../shared/data: what the CLI tests open
// to run a tokenizer.json model end to end. Written per test: no large committed files.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "tests/test_support.h"

namespace hqq::test {

struct TinyShape {
  std::string model_type, architecture, tokenizer;  // tokenizer: folder in shared/data
  int64_t vocab = 0;
  bool qkv_bias = false;
  double rope_theta = 500000.0;
  nlohmann::json eos = 0;
  int64_t bos = 0;
};

inline TinyShape llama32_shape() {
  return {"llama",
          "LlamaForCausalLM",
          "llama-3.2",
          128256,
          false,
          500000.0,
          nlohmann::json::array({128001, 128008, 128009}),
          128000};
}
inline TinyShape qwen25_shape() {
  return {"qwen2",
          "Qwen2ForCausalLM",
          "qwen2.5-1.5b-instruct",
          151936,
          true,
          1000000.0,
          nlohmann::json::array({151645, 151643}),
          151643};
}

// A next-token rule planted in random weights: after `from`, greedy decoding picks `to`.
struct Bigram {
  int64_t from, to;
};

// config.json, model.safetensors (fp32, N(0, 0.02), tied embeddings), tokenizer.json and
// tokenizer_config.json. With weights false only the tokenizer files.
// With bigrams the model gets its own lm_head and rule i is planted along hidden dimension i:
// embed[from] is the unit vector e_i and lm_head[to][i] = 10, so after the final norm the
// logit of `to` is ~57 while the random rest stays within ~1 (the random layers add ~0.01 to
// the residual), which survives 2-bit quantization of the layers. That makes a reply, and where
// it stops, predictable from a random model.
inline void write_tiny_model(const std::filesystem::path& dir, const TinyShape& s,
                             bool weights = true, const std::vector<Bigram>& bigrams = {}) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  const fs::path tok = shared_data() / "tokenizers" / s.tokenizer;
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(tok / f, dir / f, fs::copy_options::overwrite_existing);
  if (!weights) return;
  const int64_t hidden = 32, ffn = 64, heads = 2, kv_heads = 1, head_dim = 16, layers = 2;
  nlohmann::json config = {{"architectures", {s.architecture}},
                           {"model_type", s.model_type},
                           {"hidden_size", hidden},
                           {"intermediate_size", ffn},
                           {"num_hidden_layers", layers},
                           {"num_attention_heads", heads},
                           {"num_key_value_heads", kv_heads},
                           {"head_dim", head_dim},
                           {"vocab_size", s.vocab},
                           {"rms_norm_eps", 1e-5},
                           {"max_position_embeddings", 256},
                           {"hidden_act", "silu"},
                           {"rope_theta", s.rope_theta},
                           {"tie_word_embeddings", bigrams.empty()},
                           {"torch_dtype", "float32"},
                           {"bos_token_id", s.bos},
                           {"eos_token_id", s.eos}};
  write_file(dir / "config.json", config.dump(2));

  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    bool ones;
  };
  std::vector<Tensor> tensors = {{"model.embed_tokens.weight", {s.vocab, hidden}, false},
                                 {"model.norm.weight", {hidden}, true}};
  for (int64_t l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    tensors.push_back({p + "input_layernorm.weight", {hidden}, true});
    tensors.push_back({p + "post_attention_layernorm.weight", {hidden}, true});
    tensors.push_back({p + "self_attn.q_proj.weight", {heads * head_dim, hidden}, false});
    tensors.push_back({p + "self_attn.k_proj.weight", {kv_heads * head_dim, hidden}, false});
    tensors.push_back({p + "self_attn.v_proj.weight", {kv_heads * head_dim, hidden}, false});
    tensors.push_back({p + "self_attn.o_proj.weight", {hidden, heads * head_dim}, false});
    if (s.qkv_bias) {
      tensors.push_back({p + "self_attn.q_proj.bias", {heads * head_dim}, false});
      tensors.push_back({p + "self_attn.k_proj.bias", {kv_heads * head_dim}, false});
      tensors.push_back({p + "self_attn.v_proj.bias", {kv_heads * head_dim}, false});
    }
    tensors.push_back({p + "mlp.gate_proj.weight", {ffn, hidden}, false});
    tensors.push_back({p + "mlp.up_proj.weight", {ffn, hidden}, false});
    tensors.push_back({p + "mlp.down_proj.weight", {hidden, ffn}, false});
  }
  if (!bigrams.empty()) tensors.push_back({"lm_head.weight", {s.vocab, hidden}, false});
  nlohmann::json header = nlohmann::json::object();
  std::vector<float> data;
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (const auto& t : tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    const size_t begin = data.size() * sizeof(float);
    for (int64_t i = 0; i < n; ++i) data.push_back(t.ones ? 1.0f : normal(rng));
    header[t.name] = {{"dtype", "F32"},
                      {"shape", t.shape},
                      {"data_offsets", {begin, data.size() * sizeof(float)}}};
  }
  if (!bigrams.empty()) {
    const size_t lm_head = data.size() - static_cast<size_t>(s.vocab * hidden);  // written last
    for (size_t i = 0; i < bigrams.size() && i < static_cast<size_t>(hidden); ++i) {
      float* row = data.data() + bigrams[i].from * hidden;  // model.embed_tokens comes first
      std::fill(row, row + hidden, 0.0f);
      row[i] = 1.0f;
      data[lm_head + static_cast<size_t>(bigrams[i].to * hidden) + i] = 10.0f;
    }
  }
  std::string h = header.dump();
  h.resize((h.size() + 7) / 8 * 8, ' ');
  std::ofstream out(dir / "model.safetensors", std::ios::binary);
  const uint64_t len = h.size();
  out.write(reinterpret_cast<const char*>(&len), sizeof len);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  out.write(reinterpret_cast<const char*>(data.data()),
            static_cast<std::streamsize>(data.size() * sizeof(float)));
}

}  // namespace hqq::test
