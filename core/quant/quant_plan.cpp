#include "core/quant/quant_plan.h"

#include "core/base/error.h"
#include "core/quant/quant_preset.h"
#include "core/quant/twolevel_solver.h"

namespace hqq {
namespace {

template <typename T>
std::optional<T> opt(const nlohmann::json& j, const char* key, const std::string& label) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer())
    fail_input(label, std::string("\"") + key + "\" must be an integer");
  return it->get<T>();
}

}  // namespace

QuantConfig lm_head_quant_config(int bits, const std::string& what) {
  if (bits != 8 && bits != 4)
    throw InputError(what + " must be 8 or 4 (or 0 to keep lm_head as stored), not " +
                     std::to_string(bits));
  QuantConfig c;
  c.nbits = bits;
  c.group_size = bits == 8 ? 128 : 64;
  return c;
}

std::optional<QuantConfig> QuantPlan::lm_head_config() const {
  if (lm_head_bits == 0) return std::nullopt;
  return lm_head_quant_config(lm_head_bits, "lm_head_bits");
}

std::optional<QuantConfig> QuantPlan::embed_config() const {
  if (embed_bits == 0) return std::nullopt;
  return lm_head_quant_config(embed_bits, "embed_bits");
}

std::optional<QuantConfig> QuantPlan::config_for(const std::string& module) const {
  QuantConfig c = defaults;
  bool keep = false;
  for (const auto& r : overrides) {
    if (!module_matches(module, r.match)) continue;
    keep = r.skip;
    if (r.nbits) c.nbits = *r.nbits;
    if (r.group_size) c.group_size = *r.group_size;
    if (r.axis) c.axis = *r.axis;
    if (r.scale_bits) c.scale_bits = *r.scale_bits;
    if (r.zero_bits) c.zero_bits = *r.zero_bits;
    if (r.super_group) c.super_group = *r.super_group;
    if (r.rotate) c.rotate = *r.rotate;
  }
  if (keep) return std::nullopt;
  return c;
}

QuantPlan QuantPlan::from_json(const nlohmann::json& j, const std::string& label) {
  if (!j.is_object()) fail_input(label, "a plan must be a JSON object");
  QuantPlan p;
  if (auto v = opt<int>(j, "nbits", label)) p.defaults.nbits = *v;
  if (auto v = opt<int64_t>(j, "group_size", label)) p.defaults.group_size = *v;
  if (auto v = opt<int>(j, "axis", label)) p.defaults.axis = *v;
  if (auto v = opt<int>(j, "iters", label)) p.defaults.iters = *v;
  if (auto v = opt<int>(j, "scale_bits", label)) p.defaults.scale_bits = *v;
  if (auto v = opt<int>(j, "zero_bits", label)) p.defaults.zero_bits = *v;
  if (auto v = opt<int64_t>(j, "super_group", label)) p.defaults.super_group = *v;
  for (const auto& [key, field] :
       {std::pair{"lm_head_bits", &p.lm_head_bits}, std::pair{"embed_bits", &p.embed_bits}}) {
    const auto v = opt<int>(j, key, label);
    if (!v || *v == 0) continue;
    try {
      lm_head_quant_config(*v, std::string("\"") + key + "\"");
    } catch (const InputError& e) {
      fail_input(label, e.what());
    }
    *field = *v;
  }
  if (j.contains("optimizer")) {
    if (!j["optimizer"].is_string()) fail_input(label, "\"optimizer\" must be a string");
    try {
      p.defaults.optimizer = optimizer_from_name(j["optimizer"].get<std::string>());
    } catch (const InputError& e) {
      fail_input(label, e.what());
    }
  }
  auto boolean = [&](const nlohmann::json& o, const char* key,
                     const std::string& where) -> std::optional<bool> {
    if (!o.contains(key)) return std::nullopt;
    if (!o[key].is_boolean())
      fail_input(where, std::string("\"") + key + "\" must be true or false");
    return o[key].get<bool>();
  };
  if (auto v = boolean(j, "rotate", label)) p.defaults.rotate = *v;
  if (j.contains("round_zero")) {
    if (!j["round_zero"].is_boolean()) fail_input(label, "\"round_zero\" must be true or false");
    p.defaults.round_zero = j["round_zero"].get<bool>();
  }
  if (auto it = j.find("overrides"); it != j.end()) {
    if (!it->is_array()) fail_input(label, "\"overrides\" must be a list");
    for (size_t i = 0; i < it->size(); ++i) {
      const auto& o = (*it)[i];
      const std::string where = label + " (override " + std::to_string(i + 1) + ")";
      if (!o.is_object() || !o.contains("match") || !o["match"].is_string() ||
          o["match"].get<std::string>().empty())
        fail_input(where, "needs a non-empty string \"match\"");
      QuantRule r;
      r.match = o["match"].get<std::string>();
      r.nbits = opt<int>(o, "nbits", where);
      r.group_size = opt<int64_t>(o, "group_size", where);
      r.axis = opt<int>(o, "axis", where);
      r.scale_bits = opt<int>(o, "scale_bits", where);
      r.zero_bits = opt<int>(o, "zero_bits", where);
      r.super_group = opt<int64_t>(o, "super_group", where);
      r.rotate = boolean(o, "rotate", where);
      if (o.contains("skip")) {
        if (!o["skip"].is_boolean()) fail_input(where, "\"skip\" must be true or false");
        r.skip = o["skip"].get<bool>();
      }
      p.overrides.push_back(r);
    }
  }
  // Validate settings early (shapes are checked per tensor later).
  auto check = [&](int nbits, int axis, int64_t g) {
    if (nbits != 1 && nbits != 2 && nbits != 3 && nbits != 4 && nbits != 8)
      fail_input(label, "nbits " + std::to_string(nbits) + " is not supported (1, 2, 3, 4, 8)");
    if (axis != 0 && axis != 1) fail_input(label, "axis must be 0 or 1");
    if (g < 0) fail_input(label, "group_size must be positive (0: per channel)");
  };
  check(p.defaults.nbits, p.defaults.axis, p.defaults.group_size);
  for (const auto& r : p.overrides)
    check(r.nbits.value_or(p.defaults.nbits), r.axis.value_or(p.defaults.axis),
          r.group_size.value_or(0));
  auto check_two_level = [&](QuantConfig c, const QuantRule* r) {
    if (r) {
      if (r->nbits) c.nbits = *r->nbits;
      if (r->group_size) c.group_size = *r->group_size;
      if (r->axis) c.axis = *r->axis;
      if (r->scale_bits) c.scale_bits = *r->scale_bits;
      if (r->zero_bits) c.zero_bits = *r->zero_bits;
      if (r->super_group) c.super_group = *r->super_group;
      if (r->rotate) c.rotate = *r->rotate;
    }
    if (c.rotate && !c.two_level())
      fail_input(label, "\"rotate\" needs a two-level format (scale_bits > 0)");
    if (c.scale_bits < 0) fail_input(label, "scale_bits must be 0 (fp16 meta) or 2..8");
    if (!c.two_level()) return;
    if (c.axis != 1) fail_input(label, "two-level formats group along the input (axis 1) only");
    try {
      const TwoLevelParams tp = twolevel_params(c);
      check_twolevel(tp, 1, tp.super_group, "plan");
    } catch (const InputError& e) {
      fail_input(label, e.what());
    }
  };
  check_two_level(p.defaults, nullptr);
  for (const auto& r : p.overrides) check_two_level(p.defaults, &r);
  return p;
}

nlohmann::json QuantPlan::to_json() const {
  nlohmann::json o = nlohmann::json::array();
  for (const auto& r : overrides) {
    nlohmann::json e = {{"match", r.match}};
    if (r.nbits) e["nbits"] = *r.nbits;
    if (r.group_size) e["group_size"] = *r.group_size;
    if (r.axis) e["axis"] = *r.axis;
    if (r.scale_bits) e["scale_bits"] = *r.scale_bits;
    if (r.zero_bits) e["zero_bits"] = *r.zero_bits;
    if (r.super_group) e["super_group"] = *r.super_group;
    if (r.rotate) e["rotate"] = *r.rotate;
    if (r.skip) e["skip"] = true;
    o.push_back(e);
  }
  nlohmann::json j = {{"nbits", defaults.nbits},
                      {"group_size", defaults.group_size},
                      {"axis", defaults.axis},
                      {"optimizer", optimizer_name(defaults.optimizer)},
                      {"round_zero", defaults.round_zero},
                      {"iters", defaults.iters},
                      {"overrides", o}};
  if (lm_head_bits != 0) j["lm_head_bits"] = lm_head_bits;  // absent: as before, kept
  if (embed_bits != 0) j["embed_bits"] = embed_bits;
  if (defaults.two_level()) {
    j["scale_bits"] = defaults.scale_bits;
    j["zero_bits"] = defaults.zero_bits;
    j["super_group"] = defaults.super_group;
    j["rotate"] = defaults.rotate;
  }
  return j;
}

QuantPlan plan_from_preset(const std::string& preset) {
  for (const auto& p : quant_presets()) {
    if (p.name != preset) continue;
    QuantPlan plan;
    plan.defaults.nbits = p.bits;
    plan.defaults.group_size = p.group_size;
    return plan;
  }
  for (const auto& p : twolevel_presets()) {
    if (p.name != preset) continue;
    QuantPlan plan;
    plan.defaults.nbits = p.bits;
    plan.defaults.group_size = p.group_size;
    plan.defaults.scale_bits = p.scale_bits;
    plan.defaults.zero_bits = p.zero_bits;
    plan.defaults.super_group = p.super_group;
    for (const auto& m : p.mix) {
      QuantRule r;
      r.match = m;
      r.nbits = p.mix_bits;
      r.group_size = p.mix_group;
      plan.overrides.push_back(r);
    }
    return plan;
  }
  std::string names;
  for (const auto& p : quant_presets()) names += (names.empty() ? "" : ", ") + p.name;
  for (const auto& p : twolevel_presets()) names += ", " + p.name;
  throw InputError("unknown preset '" + preset + "' (available: " + names + ")");
}

}  // namespace hqq
