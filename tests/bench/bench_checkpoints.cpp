#include "tests/bench/bench_checkpoints.h"

#include <fcntl.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <fstream>
#include <stdexcept>

#include "core/io/safetensors_writer.h"

namespace hqq::bench {

namespace fs = std::filesystem;

nlohmann::json llama_config(const Shape& s, const std::string& dtype) {
  return {{"model_type", "llama"},
          {"architectures", {"LlamaForCausalLM"}},
          {"vocab_size", s.vocab},
          {"hidden_size", s.hidden},
          {"intermediate_size", s.ffn},
          {"num_hidden_layers", s.layers},
          {"num_attention_heads", s.heads},
          {"num_key_value_heads", s.kv_heads},
          {"max_position_embeddings", s.max_positions},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 10000.0},
          {"tie_word_embeddings", s.tied},
          {"torch_dtype", dtype},
          {"hidden_act", "silu"}};
}

namespace {

std::vector<std::pair<std::string, std::vector<int64_t>>> tensor_shapes(const Shape& s) {
  const int64_t hd = s.hidden / s.heads;
  std::vector<std::pair<std::string, std::vector<int64_t>>> t = {
      {"model.embed_tokens.weight", {s.vocab, s.hidden}}};
  for (int64_t l = 0; l < s.layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    t.push_back({p + "input_layernorm.weight", {s.hidden}});
    t.push_back({p + "post_attention_layernorm.weight", {s.hidden}});
    t.push_back({p + "self_attn.q_proj.weight", {s.heads * hd, s.hidden}});
    t.push_back({p + "self_attn.k_proj.weight", {s.kv_heads * hd, s.hidden}});
    t.push_back({p + "self_attn.v_proj.weight", {s.kv_heads * hd, s.hidden}});
    t.push_back({p + "self_attn.o_proj.weight", {s.hidden, s.heads * hd}});
    t.push_back({p + "mlp.gate_proj.weight", {s.ffn, s.hidden}});
    t.push_back({p + "mlp.up_proj.weight", {s.ffn, s.hidden}});
    t.push_back({p + "mlp.down_proj.weight", {s.hidden, s.ffn}});
  }
  t.push_back({"model.norm.weight", {s.hidden}});
  if (!s.tied) t.push_back({"lm_head.weight", {s.vocab, s.hidden}});
  return t;
}

}  // namespace

void write_random_checkpoint(const fs::path& dir, const Shape& s) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << llama_config(s, "bfloat16").dump(2);
  SafetensorsWriter w((dir / "model.safetensors").string());
  auto shapes = tensor_shapes(s);
  for (const auto& [name, shape] : shapes) w.declare(name, DType::BF16, shape);
  for (const auto& [name, shape] : shapes) {
    bool norm = name.find("norm") != std::string::npos;
    at::Tensor t = norm ? at::ones(shape) : at::randn(shape) * 0.02;
    w.write(name, t.to(at::kBFloat16));
  }
  w.finish();
}

void write_sparse_checkpoint(const fs::path& dir, const Shape& s, int shards) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << llama_config(s, "bfloat16").dump(2);
  auto shapes = tensor_shapes(s);
  nlohmann::json weight_map = nlohmann::json::object();
  size_t per = (shapes.size() + shards - 1) / shards;
  for (int k = 0; k < shards; ++k) {
    std::string fname =
        "model-" + std::to_string(k + 1) + "-of-" + std::to_string(shards) + ".safetensors";
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    uint64_t off = 0;
    for (size_t i = k * per; i < std::min(shapes.size(), (k + 1) * per); ++i) {
      uint64_t n = 2;
      for (int64_t d : shapes[i].second) n *= static_cast<uint64_t>(d);
      header[shapes[i].first] = {
          {"dtype", "BF16"}, {"shape", shapes[i].second}, {"data_offsets", {off, off + n}}};
      weight_map[shapes[i].first] = fname;
      off += n;
    }
    std::string h = header.dump();
    while ((h.size() + 8) % 8) h.push_back(' ');
    int fd = ::open((dir / fname).c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) throw std::runtime_error("cannot create " + (dir / fname).string());
    uint64_t len = h.size();
    if (::write(fd, &len, 8) != 8 ||
        ::write(fd, h.data(), h.size()) != static_cast<ssize_t>(h.size()) ||
        ::ftruncate(fd, static_cast<off_t>(8 + h.size() + off)) != 0)
      throw std::runtime_error("cannot write " + (dir / fname).string());
    ::close(fd);
  }
  std::ofstream(dir / "model.safetensors.index.json")
      << nlohmann::json{{"weight_map", weight_map}}.dump();
}

}  // namespace hqq::bench
