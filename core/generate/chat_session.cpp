#include "core/generate/chat_session.h"

#include <algorithm>

#include "core/base/error.h"
#include "core/model/llama_model.h"
#include "core/text/tokenizer.h"

namespace hqq {

std::vector<int64_t> chat_prompt(const Tokenizer& tok, const std::vector<ChatMessage>& messages) {
  const auto& cfg = tok.config();
  std::string text = render_chat(cfg, messages, true);
  // Templates spell BOS themselves; the plain fallback does not.
  bool add_bos = cfg.chat_template.empty() && cfg.add_bos_token;
  return tok.encode(text, add_bos, /*parse_special=*/true);
}

ChatSession::ChatSession(const LlamaModel& model, const Tokenizer& tok, int64_t ctx)
    : model_(model),
      tok_(tok),
      ctx_(std::min(ctx, model.config().max_position_embeddings)),
      state_{model.make_cache(1, ctx_), {}} {}

void ChatSession::set_system(const std::string& text) {
  messages_.clear();
  if (!text.empty()) messages_.push_back({"system", text});
}

void ChatSession::reset() {
  std::erase_if(messages_, [](const ChatMessage& m) { return m.role != "system"; });
}

GenerateResult ChatSession::reply(const std::string& user, GenerateOptions opts,
                                  const TextCallback& on_text, const JobContext& job) {
  messages_.push_back({"user", user});
  std::vector<int64_t> prompt;
  try {
    prompt = chat_prompt(tok_, messages_);
  } catch (...) {
    messages_.pop_back();
    throw;
  }
  if (static_cast<int64_t>(prompt.size()) + 1 >= ctx_) {
    messages_.pop_back();
    fail_input("chat", "the conversation no longer fits in " + std::to_string(ctx_) +
                           " tokens; reset it to start over");
  }
  // Without a template the plain "role: content" format needs its own turn boundary.
  if (tok_.config().chat_template.empty()) opts.stop_strings.push_back("\nuser:");
  opts.max_new_tokens =
      std::min<int64_t>(opts.max_new_tokens, ctx_ - static_cast<int64_t>(prompt.size()));
  GenerateResult r = generate(model_, tok_, prompt, opts, on_text, job, &state_);
  messages_.push_back({"assistant", r.text});
  return r;
}

}  // namespace hqq
