// hqq generate / hqq chat: text generation from a prompt, or an interactive terminal chat.
#include <fmt/format.h>

#include <iostream>

#include "app/cli/cli_common.h"
#include "core/generate/chat_session.h"
#include "core/generate/generate.h"
#include "core/load/model_loader.h"

namespace hqq::cli {

namespace {

struct SamplingArgs {
  GenerateOptions opts;
  std::string system;
  int64_t ctx = 4096;
};

void add_sampling_options(CLI::App* cmd, SamplingArgs& a) {
  auto& s = a.opts.sampling;
  cmd->add_option("-n,--max-tokens", a.opts.max_new_tokens, "Most tokens to generate")
      ->check(cli::non_negative_number());
  cmd->add_option("--temperature", s.temperature, "Sampling temperature (0: greedy)")
      ->check(cli::non_negative_number());
  cmd->add_option("--top-k", s.top_k, "Sample among the k most likely tokens (0: all)")
      ->check(cli::non_negative_number());
  cmd->add_option("--top-p", s.top_p, "Nucleus sampling mass (1: off)")
      ->check(CLI::Range(0.0001f, 1.0f));
  cmd->add_option("--repetition-penalty", s.repetition_penalty,
                  "Penalty for tokens already seen (1: off)")
      ->check(cli::positive_number());
  cmd->add_option("--seed", s.seed, "Random seed for sampling");
  cmd->add_option("--stop", a.opts.stop_strings, "Stop when this text is produced (repeatable)");
  cmd->add_option("--system", a.system, "System message (chat template)");
  cmd->add_option("--ctx", a.ctx, "Context length for the KV cache (capped by the model)")
      ->check(cli::positive_number());
}

void print_stats(const GenerateResult& r) {
  fmt::print(
      stderr,
      "\n[{} prompt tokens, {:.1f} tok/s prefill; {} generated, {:.1f} tok/s decode; stop: {}]\n",
      r.prompt_tokens, r.prefill_tokens_per_second(), r.tokens.size(), r.decode_tokens_per_second(),
      stop_reason_name(r.stop_reason));
}

// Per-token stage times of the decode steps; "other" is what no stage timer covered (dispatch,
// tensor bookkeeping).
nlohmann::json profile_json(const DecodeProfile& p) {
  nlohmann::json j = {{"tokens", p.tokens}, {"ms_per_token", {}}};
  if (p.tokens == 0) return j;
  double covered = 0;
  for (int s = 0; s < DecodeProfile::kStages; ++s) covered += p.seconds[s];
  for (int s = 0; s < DecodeProfile::kStages; ++s) {
    double sec = p.seconds[s] + (s == DecodeProfile::Other ? p.total_seconds - covered : 0.0);
    j["ms_per_token"][DecodeProfile::kNames[s]] = 1e3 * sec / static_cast<double>(p.tokens);
  }
  j["ms_per_token"]["total"] = 1e3 * p.total_seconds / static_cast<double>(p.tokens);
  return j;
}

void print_profile(const DecodeProfile& p) {
  const nlohmann::json j = profile_json(p);
  fmt::print(stderr, "[decode profile, {} tokens, ms per token:", p.tokens);
  for (const auto& [name, ms] : j["ms_per_token"].items())
    fmt::print(stderr, " {} {:.3f};", name, ms.get<double>());
  fmt::print(stderr, "]\n");
}

nlohmann::json result_json(const GenerateResult& r) {
  return {{"text", r.text},
          {"tokens", r.tokens},
          {"stop_reason", stop_reason_name(r.stop_reason)},
          {"prompt_tokens", r.prompt_tokens},
          {"prefill_seconds", r.prefill_seconds},
          {"decode_seconds", r.decode_seconds},
          {"prefill_tokens_per_second", r.prefill_tokens_per_second()},
          {"decode_tokens_per_second", r.decode_tokens_per_second()}};
}

}  // namespace

void add_generate_commands(CLI::App& app, GlobalOptions& g, Action* run) {
  struct GenArgs : SamplingArgs {
    std::string model, prompt;
    bool chat = false, profile = false;
  };
  auto a = std::make_shared<GenArgs>();
  auto* gen =
      app.add_subcommand("generate", "Continue a prompt (or answer it as a chat with --chat)");
  gen->add_option("model", a->model, "Model folder")->required();
  gen->add_option("-p,--prompt", a->prompt, "Prompt text")->required();
  gen->add_flag("--chat", a->chat,
                "Wrap the prompt in the model's chat template as a user message");
  gen->add_flag("--reference-decode", a->opts.reference_decode,
                "Decode through the general forward pass instead of the fused one-token step "
                "(for comparisons)")
      ->group("");  // hidden: a developer's switch
  gen->add_flag("--profile", a->profile,
                "Time the stages of each decoded token (projections, attention, lm_head, ...) "
                "and print the breakdown (stderr, or \"profile\" in --json)");
  add_sampling_options(gen, *a);
  gen->callback([&g, a, run] {
    *run = [&g, a] {
      LoadedModel m = load_for_inference(a->model, g);
      const Tokenizer& tok = m.require_tokenizer();
      std::vector<int64_t> prompt;
      if (a->chat || !a->system.empty()) {
        std::vector<ChatMessage> msgs;
        if (!a->system.empty()) msgs.push_back({"system", a->system});
        msgs.push_back({"user", a->prompt});
        prompt = chat_prompt(tok, msgs);
      } else {
        prompt = tok.encode(a->prompt, tok.config().add_bos_token);
      }
      TextCallback stream;
      if (!g.json) stream = [](std::string_view s) { std::cout << s << std::flush; };
      DecodeProfile profile;
      GenerateOptions opts = a->opts;
      if (a->profile) opts.profile = &profile;
      GenerateResult r =
          generate(m.model, tok, prompt, opts, stream, {.cancel = &interrupt_token()});
      if (g.json) {
        nlohmann::json j = result_json(r);
        if (a->profile) j["profile"] = profile_json(profile);
        print_json(j);
      } else {
        std::cout << std::endl;
        if (!g.quiet) print_stats(r);
        if (a->profile) print_profile(profile);
      }
      return r.stop_reason == StopReason::Cancelled ? 130 : 0;
    };
  });

  struct ChatArgs : SamplingArgs {
    std::string model;
  };
  auto c = std::make_shared<ChatArgs>();
  c->opts.sampling.temperature = 0.7f;
  c->opts.sampling.top_p = 0.9f;
  c->opts.max_new_tokens = 512;
  auto* chat =
      app.add_subcommand("chat", "Chat with a model in the terminal (/reset, /system TEXT, /exit)");
  chat->add_option("model", c->model, "Model folder")->required();
  add_sampling_options(chat, *c);
  chat->callback([&g, c, run] {
    *run = [&g, c] {
      LoadedModel m = load_for_inference(c->model, g);
      ChatSession chat(m.model, m.require_tokenizer(), c->ctx);
      chat.set_system(c->system);
      fmt::print(
          stderr,
          "Chatting with {} ({} context). /reset, /system TEXT, /exit; Ctrl-C stops a reply.\n",
          c->model, chat.context());
      std::string line;
      while (true) {
        std::cout << "> " << std::flush;
        if (!std::getline(std::cin, line) || line == "/exit" || line == "/quit") break;
        if (line.empty()) continue;
        if (line == "/reset") {
          chat.reset();
          continue;
        }
        if (line.rfind("/system ", 0) == 0) {
          chat.set_system(line.substr(8));
          continue;
        }
        GenerateResult r;
        try {
          r = chat.reply(line, c->opts, [](std::string_view s) { std::cout << s << std::flush; },
                         {.cancel = &interrupt_token()});
        } catch (const std::exception& e) {  // template failure or a full context: keep chatting
          fmt::print(stderr, "error: {}\n", e.what());
          continue;
        }
        std::cout << std::endl;
        if (!g.quiet) print_stats(r);
        if (r.stop_reason == StopReason::Cancelled) reset_interrupts();
      }
      return 0;
    };
  });
}

}  // namespace hqq::cli
