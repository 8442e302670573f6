#pragma once
// A conversation with one model, shared by `hqq chat` and the GUI's Chat page: the messages so
// far, the chat template, and a KV cache reused across turns so each turn prefills only what is
// new. Not thread-safe: one reply at a time.
#include <string>
#include <vector>

#include "core/generate/generate.h"
#include "core/text/chat_template.h"

namespace hqq {

class LlamaModel;
class Tokenizer;

// The rendered conversation as token ids, ending with the assistant's generation prompt.
std::vector<int64_t> chat_prompt(const Tokenizer& tok, const std::vector<ChatMessage>& messages);

class ChatSession {
 public:
  // `ctx`: KV cache length (capped by the model's max_position_embeddings).
  ChatSession(const LlamaModel& model, const Tokenizer& tok, int64_t ctx);

  void set_system(const std::string& text);  // replaces the conversation with one system message
  void reset();                              // forgets everything but the system message
  // Adds `user`, generates the reply (streamed through on_text) and keeps it in the history.
  // Throws InputError when the conversation no longer fits the context, TemplateError when the
  // template fails; the history is unchanged then.
  GenerateResult reply(const std::string& user, GenerateOptions opts, const TextCallback& on_text,
                       const JobContext& job = {});
  const std::vector<ChatMessage>& messages() const { return messages_; }
  int64_t context() const { return ctx_; }

 private:
  const LlamaModel& model_;
  const Tokenizer& tok_;
  int64_t ctx_;
  DecodeState state_;
  std::vector<ChatMessage> messages_;
};

}  // namespace hqq
