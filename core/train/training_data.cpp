#include "core/train/training_data.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/base/json_file.h"
#include "core/text/chat_template.h"

namespace hqq {

namespace fs = std::filesystem;

namespace {

DataFormat detect(const fs::path& file) {
  const std::string ext = file.extension().string();
  if (ext != ".jsonl" && ext != ".json") return DataFormat::Text;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    // Only the format is decided here; a malformed line is reported when it is read.
    if (line.find("\"messages\"") == std::string::npos) return DataFormat::JsonlText;
    try {
      auto j = parse_json_text(line, file.string());
      return j.is_object() && j.contains("messages") ? DataFormat::JsonlChat
                                                     : DataFormat::JsonlText;
    } catch (const InputError&) {
      return DataFormat::JsonlText;
    }
  }
  return DataFormat::JsonlText;
}

std::vector<ChatMessage> parse_messages(const nlohmann::json& j, const std::string& where) {
  const auto& m = j["messages"];
  if (!m.is_array() || m.empty()) fail_input(where, "\"messages\" must be a non-empty list");
  std::vector<ChatMessage> out;
  for (const auto& e : m) {
    if (!e.is_object() || !e.contains("role") || !e.contains("content") || !e["role"].is_string() ||
        !e["content"].is_string())
      fail_input(where, "each message needs string \"role\" and \"content\"");
    out.push_back({e["role"].get<std::string>(), e["content"].get<std::string>()});
  }
  return out;
}

// Tokens of a conversation and a mask that is 1 exactly on what the assistant says: the tokens a
// rendering up to an assistant message adds beyond the rendering with the generation prompt.
void encode_chat(const Tokenizer& tok, const std::vector<ChatMessage>& msgs,
                 std::vector<int32_t>* ids, std::vector<uint8_t>* mask) {
  const auto& cfg = tok.config();
  auto encode = [&](size_t n, bool gen) {
    std::vector<ChatMessage> part(msgs.begin(), msgs.begin() + static_cast<std::ptrdiff_t>(n));
    std::string text = render_chat(cfg, part, gen);
    return tok.encode(text, cfg.chat_template.empty() && cfg.add_bos_token, true);
  };
  std::vector<int64_t> full = encode(msgs.size(), false);
  ids->assign(full.begin(), full.end());
  mask->assign(full.size(), 0);
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (msgs[i].role != "assistant") continue;
    size_t begin = std::min(encode(i, true).size(), full.size());
    size_t end = std::min(encode(i + 1, false).size(), full.size());
    for (size_t k = begin; k < end; ++k) (*mask)[k] = 1;
    if (cfg.chat_template.empty() && end < full.size()) (*mask)[end] = 0;
  }
}

// Appends the tokens of a long text, encoded in bounded pieces (Tokenizer::encode_long).
void encode_chunked(const Tokenizer& tok, std::string_view text, bool add_bos,
                    std::vector<int32_t>* out, const JobContext& job) {
  for (int64_t id : tok.encode_long(text, add_bos, job)) out->push_back(static_cast<int32_t>(id));
}

}  // namespace

DataFormat data_format_from_name(const std::string& name) {
  if (name == "auto") return DataFormat::Auto;
  if (name == "text") return DataFormat::Text;
  if (name == "jsonl") return DataFormat::JsonlText;
  if (name == "chat") return DataFormat::JsonlChat;
  throw InputError("unknown data format '" + name + "' (auto, text, jsonl, chat)");
}

int64_t TokenWindows::examples() const {
  return packed() ? static_cast<int64_t>(stream.size() - 1) / window
                  : static_cast<int64_t>(sequences.size());
}

int64_t TokenWindows::tokens() const {
  if (packed()) return static_cast<int64_t>(stream.size());
  int64_t n = 0;
  for (const auto& s : sequences) n += static_cast<int64_t>(s.size());
  return n;
}

std::pair<at::Tensor, at::Tensor> TokenWindows::batch(int64_t batch_size,
                                                      std::mt19937_64& rng) const {
  at::Tensor x = at::empty({batch_size, window}, at::kLong),
             y = at::empty({batch_size, window}, at::kLong);
  int64_t* xp = x.data_ptr<int64_t>();
  int64_t* yp = y.data_ptr<int64_t>();
  for (int64_t b = 0; b < batch_size; ++b) {
    if (packed()) {
      std::uniform_int_distribution<int64_t> pick(0,
                                                  static_cast<int64_t>(stream.size()) - window - 1);
      const int64_t at = pick(rng);
      for (int64_t t = 0; t < window; ++t) {
        xp[b * window + t] = stream[static_cast<size_t>(at + t)];
        yp[b * window + t] = stream[static_cast<size_t>(at + t + 1)];
      }
    } else {
      std::uniform_int_distribution<size_t> pick(0, sequences.size() - 1);
      const size_t s = pick(rng);
      const auto& seq = sequences[s];
      const auto& m = masks[s];
      for (int64_t t = 0; t < window; ++t) {
        const size_t i = static_cast<size_t>(t);
        xp[b * window + t] = i < seq.size() ? seq[i] : pad_id;
        yp[b * window + t] = i + 1 < seq.size() && m[i + 1] ? seq[i + 1] : -100;
      }
    }
  }
  return {x, y};
}

TokenWindows load_training_data(const std::vector<fs::path>& files, const Tokenizer& tok,
                                int64_t window, DataFormat format, const JobContext& job) {
  if (window < 2) throw InputError("the training window must be at least 2 tokens");
  if (files.empty()) throw InputError("no training data given");
  TokenWindows d;
  d.window = window;
  d.pad_id = tok.eos_ids().empty() ? 0 : tok.eos_ids()[0];
  for (const auto& f : files) {
    if (!fs::exists(f)) fail_input(f.string(), "does not exist");
    if (fs::is_directory(f))
      fail_input(f.string(), "is a folder; a training data file is expected");
    const DataFormat fmt = format == DataFormat::Auto ? detect(f) : format;
    if (fmt == DataFormat::Text) {
      const size_t before = d.stream.size();
      encode_chunked(tok, read_text_file(f), /*add_bos=*/true, &d.stream, job);
      if (d.stream.size() - before <= 1) fail_input(f.string(), "contains no text");
      continue;
    }
    std::ifstream in(f);
    std::string line;
    int64_t line_no = 0, records = 0;
    while (std::getline(in, line)) {
      job.check();
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = f.string() + ":" + std::to_string(line_no);
      nlohmann::json j = parse_json_text(line, where);
      line = std::string();  // the parsed record holds the text now; do not keep it twice
      if (!j.is_object()) fail_input(where, "not a JSON object");
      ++records;
      if (fmt == DataFormat::JsonlText) {
        if (!j.contains("text") || !j["text"].is_string())
          fail_input(where, "needs a string \"text\" field");
        std::string text = std::move(j["text"].get_ref<std::string&>());
        j = nullptr;
        encode_chunked(tok, text, true, &d.stream, job);
        if (!tok.eos_ids().empty()) d.stream.push_back(static_cast<int32_t>(tok.eos_ids()[0]));
      } else {
        if (!j.contains("messages")) fail_input(where, "needs a \"messages\" list");
        std::vector<int32_t> ids;
        std::vector<uint8_t> mask;
        try {
          encode_chat(tok, parse_messages(j, where), &ids, &mask);
        } catch (const TemplateError& e) {
          fail_input(where, e.what());
        }
        if (static_cast<int64_t>(ids.size()) > window + 1) {
          ids.resize(static_cast<size_t>(window + 1));
          mask.resize(ids.size());
        }
        if (std::count(mask.begin(), mask.end(), 1) == 0)
          fail_input(where, "has no assistant tokens to learn");
        d.sequences.push_back(std::move(ids));
        d.masks.push_back(std::move(mask));
      }
    }
    if (records == 0) fail_input(f.string(), "contains no records");
  }
  if (!d.sequences.empty() && !d.stream.empty())
    throw InputError("chat data cannot be mixed with plain text in one run");
  if (d.packed() && static_cast<int64_t>(d.stream.size()) < window + 1)
    throw InputError("the data has " + std::to_string(d.stream.size()) +
                     " tokens, fewer than one window of " + std::to_string(window + 1));
  return d;
}

}  // namespace hqq
