#include "core/model/module_names.h"

namespace hqq {
namespace {

bool glob(const char* p, const char* s) {
  if (*p == '\0') return *s == '\0';
  if (*p == '*') return glob(p + 1, s) || (*s && glob(p, s + 1));
  return *s && *p == *s && glob(p + 1, s + 1);
}

}  // namespace

const char* const kProjectionSuffixes[7] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

std::vector<std::string> decoder_projections(int64_t num_layers) {
  std::vector<std::string> out;
  for (int64_t l = 0; l < num_layers; ++l)
    for (const char* p : kProjectionSuffixes)
      out.push_back("model.layers." + std::to_string(l) + "." + p);
  return out;
}

bool module_matches(const std::string& module, const std::string& pattern) {
  if (pattern.find('*') != std::string::npos) return glob(pattern.c_str(), module.c_str());
  const std::string m = "." + module + ".";
  return m.find("." + pattern + ".") != std::string::npos;
}

}  // namespace hqq
