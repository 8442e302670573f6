#pragma once
// Chat templates: a small renderer for the subset of Jinja that Hugging Face chat templates use
// (Llama-2-chat, Mistral-instruct, Zephyr/TinyLlama, ChatML and similar), with the environment
// transformers uses (trim_blocks, lstrip_blocks), plus a plain fallback for models without one.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace hqq {

// A template that cannot be parsed or that failed while rendering (including raise_exception).
class TemplateError : public InputError {
 public:
  using InputError::InputError;
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

class ChatTemplate {
 public:
  // Parses once; throws TemplateError with the line and column of the problem.
  explicit ChatTemplate(const std::string& source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Renders with `context` as the global variables (messages, bos_token, add_generation_prompt...).
  std::string render(const nlohmann::json& context) const;

  struct Node;

 private:
  std::string source_;  // kept for line/column numbers in render-time errors
  std::vector<std::unique_ptr<Node>> body_;
};

// The conversation rendered for a model: its template if it has one, else the plain fallback
// "<role>: <content>\n" per message and "assistant:" for the generation prompt.
std::string render_chat(const std::string& template_source,
                        const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const std::string& bos_token, const std::string& eos_token);

}  // namespace hqq
