// hqq info DIR: the model card, from config and headers only (never reads weights).
#include <fmt/format.h>

#include "app/cli/cli_common.h"
#include "core/base/device.h"
#include "core/quant/model_card.h"

namespace hqq::cli {

namespace {
std::string human_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) b /= 1000, ++u;
  return fmt::format("{:.2f} {}", b, units[u]);
}
std::string human_count(double n) {
  if (n >= 1e9) return fmt::format("{:.2f} B", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.2f} M", n / 1e6);
  if (n >= 1e3) return fmt::format("{:.1f} K", n / 1e3);
  return fmt::format("{}", n);
}
}  // namespace

void add_info_command(CLI::App& app, GlobalOptions& g, Action* run) {
  auto* cmd = app.add_subcommand(
      "info", "Show a model's card: architecture, size, tokenizer, size per preset");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("model", *dir, "Model folder (config.json + safetensors)")->required();
  cmd->callback([&g, dir, run] {
    *run = [&g, dir] {
      ModelInfo info = describe_model(*dir);
      const Device device = resolve_device(g.device);
      if (g.json) {
        nlohmann::json j = to_json(info);
        j["device"] = device.name();
        j["device_note"] = device.note;
        print_json(j);
        return 0;
      }
      const auto& c = info.config;
      fmt::print("{}\n", info.dir);
      fmt::print("  architecture   {} ({})\n",
                 c.architecture.empty() ? c.model_type : c.architecture, c.model_type);
      fmt::print("  parameters     {} ({} in decoder projections)\n",
                 human_count(double(info.parameters)), human_count(double(info.linear_parameters)));
      fmt::print("  layers         {} x (hidden {}, ffn {}, heads {}/{} kv, head dim {})\n",
                 c.num_hidden_layers, c.hidden_size, c.intermediate_size, c.num_attention_heads,
                 c.num_key_value_heads, c.head_dim);
      fmt::print("  vocabulary     {}{}\n", c.vocab_size,
                 c.tie_word_embeddings ? " (tied embeddings)" : "");
      fmt::print("  context        {} positions, rope theta {}\n", c.max_position_embeddings,
                 c.rope_theta);
      std::string dtypes;
      for (const auto& [d, n] : info.parameters_by_dtype)
        dtypes += fmt::format("{}{} {}", dtypes.empty() ? "" : ", ", d, human_count(double(n)));
      fmt::print("  weights        {} in {} tensors, {} file(s): {}\n",
                 human_bytes(double(info.weight_bytes)), info.tensors, info.shards, dtypes);
      fmt::print("  tokenizer      {}{}\n", info.tokenizer,
                 info.has_chat_template ? ", chat template" : "");
      if (!info.special_tokens.empty()) {
        // Llama 3 has 256 (most of them reserved): the first few and a count.
        std::string list;
        size_t shown = 0;
        for (const auto& [id, text] : info.special_tokens) {
          if (shown++ == 12) break;
          list += fmt::format("{}{} {}", list.empty() ? "" : ", ", text, id);
        }
        if (info.special_tokens.size() > 12)
          list += fmt::format(", ... ({} in all)", info.special_tokens.size());
        fmt::print("  special tokens {}\n", list);
      }
      if (!info.quantization.empty()) fmt::print("  quantization   {}\n", info.quantization);
      fmt::print("  device         {}{}\n", device.name(),
                 device.note.empty() ? "" : " (" + device.note + ")");
      if (!info.estimates.empty()) fmt::print("  size by preset\n");
      for (const auto& e : info.estimates)
        fmt::print("    {:<10} {:>5.2f} bits/weight  {}\n", e.preset, e.bits_per_weight,
                   human_bytes(double(e.bytes)));
      return 0;
    };
  });
}

}  // namespace hqq::cli
