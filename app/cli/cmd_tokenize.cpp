// hqq tokenize MODEL: text to token ids with the model's own tokenizer (tokenizer.json or
// tokenizer.model). Needs only the tokenizer files: config.json and weights are optional.
#include <fmt/format.h>

#include <fstream>

#include "app/cli/cli_common.h"
#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/text/tokenizer.h"

namespace hqq::cli {

namespace {

namespace fs = std::filesystem;

// A folder, or a tokenizer.json / tokenizer.model file itself.
Tokenizer open_tokenizer(const fs::path& p) {
  if (fs::is_directory(p)) return Tokenizer::load(p);
  if (!fs::exists(p)) fail_input(p.string(), "does not exist");
  if (p.extension() == ".json") return Tokenizer::from_json_file(p);
  return Tokenizer::from_model_file(p);
}

nlohmann::json record(const Tokenizer& tok, const std::vector<int64_t>& ids, bool pieces) {
  nlohmann::json j = {{"ids", ids}};
  if (pieces) {
    nlohmann::json p = nlohmann::json::array();
    for (int64_t id : ids) p.push_back(tok.piece(id));
    j["pieces"] = p;
  }
  return j;
}

}  // namespace

void add_tokenize_command(CLI::App& app, GlobalOptions& g, Action* run) {
  struct Args {
    std::string model, prompt, text, jsonl;
    bool no_special = false, pieces = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "tokenize", "Token ids of a text with a model's tokenizer (only its tokenizer files needed)");
  cmd->add_option("model", a->model, "Model folder (or a tokenizer.json / tokenizer.model)")
      ->required();
  auto* p = cmd->add_option("-p,--prompt", a->prompt, "The text to tokenize");
  auto* t = cmd->add_option("--text", a->text, "A text file to tokenize whole");
  auto* l = cmd->add_option("--jsonl", a->jsonl,
                            "One JSON string per line; prints one {\"ids\": [...]} line for each");
  p->excludes(t)->excludes(l);
  t->excludes(l);
  cmd->add_flag("--no-special", a->no_special,
                "Do not add the special tokens the tokenizer puts around a text (BOS, ...)");
  cmd->add_flag("--pieces", a->pieces, "Show the token strings too");
  cmd->callback([&g, a, run, p, t, l] {
    if (!*p && !*t && !*l) throw CLI::RequiredError("one of -p, --text or --jsonl");
    *run = [&g, a] {
      Tokenizer tok = open_tokenizer(a->model);
      const bool add = !a->no_special;
      if (!a->jsonl.empty()) {
        std::ifstream in(a->jsonl, std::ios::binary);
        if (!in) fail_input(a->jsonl, "cannot be read");
        size_t n = 0;
        for (std::string line; std::getline(in, line);) {
          ++n;
          if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
          nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
          if (!j.is_string()) fail_input(a->jsonl + ":" + std::to_string(n), "not a JSON string");
          auto ids = tok.encode(j.get<std::string>(), add, /*parse_special=*/true);
          fmt::print("{}\n", record(tok, ids, a->pieces).dump());
        }
        return 0;
      }
      const std::string text = a->text.empty() ? a->prompt : read_text_file(a->text);
      auto ids = tok.encode(text, add, /*parse_special=*/true);
      if (g.json) {
        nlohmann::json j = record(tok, ids, a->pieces);
        j["count"] = ids.size();
        j["tokenizer"] = tok.kind();
        print_json(j);
      } else if (a->pieces) {
        for (int64_t id : ids) fmt::print("{}\t{}\n", id, nlohmann::json(tok.piece(id)).dump());
      } else {
        std::string line;
        for (int64_t id : ids) line += (line.empty() ? "" : " ") + std::to_string(id);
        fmt::print("{}\n", line);
      }
      return 0;
    };
  });
}

}  // namespace hqq::cli
