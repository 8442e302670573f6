#pragma once
// Chat templates: the Jinja engine of core/text/jinja/ set up as transformers sets it up
// (trim_blocks, lstrip_blocks, loop controls, raise_exception, strftime_now, its tojson), plus a
// plain fallback for models without a template. Templates come with downloaded models, so the
// engine bounds their work (jinja/limits.h) and every error names the template's file.
#include <ctime>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/text/jinja/error.h"  // TemplateError
#include "core/text/jinja/limits.h"
#include "core/text/tokenizer_config.h"

namespace hqq {

namespace jinja {
class Template;
}

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

class ChatTemplate {
 public:
  // Parses once; throws TemplateError naming `source_name` (the file the template came from)
  // with the line and column of the problem.
  explicit ChatTemplate(const std::string& source, const std::string& source_name = "chat template",
                        const jinja::Limits& limits = {});
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // The time strftime_now() formats; local time unless set (tests fix it).
  void set_clock(std::function<std::tm()> clock) { clock_ = std::move(clock); }

  // Renders with `context` as the global variables (messages, tools, bos_token,
  // add_generation_prompt...). render_ordered keeps the key order, which tojson prints.
  std::string render(const nlohmann::json& context) const;
  std::string render_ordered(const nlohmann::ordered_json& context) const;

 private:
  std::unique_ptr<jinja::Template> t_;
  std::function<std::tm()> clock_;
};

// The conversation rendered for a model: its template if it has one, else the plain fallback
// "<role>: <content>\n" per message and "assistant:" for the generation prompt.
std::string render_chat(const std::string& template_source,
                        const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const std::string& bos_token, const std::string& eos_token,
                        const std::string& source_name = "chat template");
// The same with a model folder's template, special tokens and template file name.
std::string render_chat(const TokenizerConfig& cfg, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt);

}  // namespace hqq
