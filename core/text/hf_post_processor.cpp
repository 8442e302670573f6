#include "core/text/hf_post_processor.h"

#include <nlohmann/json.hpp>

#include "core/base/error.h"

namespace hqq::hf {

PostProcessor::PostProcessor(const nlohmann::json& j, const std::string& file) {
  try {
    add(j, file);
  } catch (const nlohmann::json::exception& e) {
    fail_input(file, std::string("post_processor: ") + e.what());
  }
}

void PostProcessor::add(const nlohmann::json& j, const std::string& file) {
  if (j.is_null()) return;
  const std::string type = j.is_object() ? j.value("type", std::string()) : std::string();
  if (type == "ByteLevel") return;
  if (type == "Sequence") {
    for (const auto& p : j.at("processors")) add(p, file);
    return;
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    // "cls": [token, id], "sep": [token, id]: CLS text SEP.
    templates_.push_back({{j.at("cls").at(1).get<int32_t>()}, {j.at("sep").at(1).get<int32_t>()}});
    return;
  }
  if (type == "TemplateProcessing") {
    const auto& specials = j.at("special_tokens");
    Template t;
    bool seen_sequence = false;
    for (const auto& piece : j.at("single")) {
      if (piece.contains("Sequence")) {
        if (piece["Sequence"].value("id", std::string("A")) != "A")
          fail_input(file, "TemplateProcessing: the single template uses sequence B");
        seen_sequence = true;
        continue;
      }
      const std::string name = piece.at("SpecialToken").at("id").get<std::string>();
      if (!specials.contains(name))
        fail_input(file, "TemplateProcessing: special token '" + name + "' is not declared");
      for (const auto& id : specials[name].at("ids"))
        (seen_sequence ? t.after : t.before).push_back(id.get<int32_t>());
    }
    templates_.push_back(std::move(t));
    return;
  }
  fail_input(file,
             (type.empty() ? std::string("untyped") : type) + " post-processor: not supported");
}

void PostProcessor::apply(std::vector<int32_t>& ids) const {
  for (const auto& t : templates_) {
    ids.insert(ids.begin(), t.before.begin(), t.before.end());
    ids.insert(ids.end(), t.after.begin(), t.after.end());
  }
}

std::vector<int32_t> PostProcessor::prefix() const {
  return templates_.empty() ? std::vector<int32_t>{} : templates_.front().before;
}
std::vector<int32_t> PostProcessor::suffix() const {
  return templates_.empty() ? std::vector<int32_t>{} : templates_.front().after;
}

}  // namespace hqq::hf
