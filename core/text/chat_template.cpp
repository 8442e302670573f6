#include "core/text/chat_template.h"

#include "core/text/jinja/template.h"

namespace hqq {

ChatTemplate::ChatTemplate(const std::string& source, const std::string& source_name,
                           const jinja::Limits& limits)
    : t_(std::make_unique<jinja::Template>(source, source_name, limits)) {}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const nlohmann::json& context) const {
  return t_->render(jinja::from_json(context), clock_);
}

std::string ChatTemplate::render_ordered(const nlohmann::ordered_json& context) const {
  return t_->render(jinja::from_json(context), clock_);
}

std::string render_chat(const std::string& template_source,
                        const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const std::string& bos_token, const std::string& eos_token,
                        const std::string& source_name) {
  if (template_source.empty()) {
    std::string out;
    for (const auto& m : messages) out += m.role + ": " + m.content + "\n";
    if (add_generation_prompt) out += "assistant:";
    return out;
  }
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
  for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
  nlohmann::ordered_json ctx = {{"messages", msgs},
                                {"add_generation_prompt", add_generation_prompt},
                                {"bos_token", bos_token},
                                {"eos_token", eos_token}};
  return ChatTemplate(template_source, source_name).render_ordered(ctx);
}

std::string render_chat(const TokenizerConfig& cfg, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt) {
  return render_chat(cfg.chat_template, messages, add_generation_prompt, cfg.bos_token,
                     cfg.eos_token,
                     cfg.chat_template_file.empty() ? "chat template" : cfg.chat_template_file);
}

}  // namespace hqq
