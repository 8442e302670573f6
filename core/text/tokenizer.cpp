#include "core/text/tokenizer.h"

#include <algorithm>

#include "core/base/error.h"
#include "core/text/hf_tokenizer.h"
#include "core/text/spm_library.h"

namespace hqq {

namespace fs = std::filesystem;

struct Tokenizer::Handle {
  std::shared_ptr<SpmLibrary> lib;
  hqq_spm* spm = nullptr;
  ~Handle() {
    if (spm) lib->free(spm);
  }
  std::string take_string(char* p, int64_t n) const {
    std::string s = n > 0 ? std::string(p, static_cast<size_t>(n)) : std::string();
    if (p) lib->release(p);
    return s;
  }
};

Tokenizer Tokenizer::from_model_file(const fs::path& model_file) {
  if (!fs::exists(model_file)) fail_input(model_file.string(), "tokenizer model does not exist");
  Tokenizer t;
  t.model_path_ = model_file.string();
  t.h_ = std::make_shared<Handle>();
  t.h_->lib = SpmLibrary::open();
  char err[512] = {0};
  t.h_->spm = t.h_->lib->load(t.model_path_.c_str(), err, sizeof(err));
  if (!t.h_->spm) fail_input(t.model_path_, std::string("not a valid sentencepiece model: ") + err);
  int32_t ids[4];
  t.h_->lib->special_ids(t.h_->spm, ids);
  if (ids[0] >= 0) t.bos_id_ = ids[0];
  if (ids[1] >= 0) t.eos_ids_.push_back(ids[1]);
  const int32_t n = t.h_->lib->vocab_size(t.h_->spm);
  for (int32_t id = 0; id < n; ++id)
    if (t.h_->lib->piece_type(t.h_->spm, id) == HQQ_SPM_CONTROL)
      t.specials_.emplace_back(t.piece(id), id);
  t.config_.bos_token = t.bos_id_ ? t.piece(*t.bos_id_) : "";
  t.config_.eos_token = t.eos_ids_.empty() ? "" : t.piece(t.eos_ids_[0]);
  std::sort(t.specials_.begin(), t.specials_.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return t;
}

Tokenizer Tokenizer::from_json_file(const fs::path& json_file) {
  if (!fs::exists(json_file)) fail_input(json_file.string(), "tokenizer file does not exist");
  Tokenizer t;
  t.model_path_ = json_file.string();
  t.hf_ = hf::HfTokenizer::load(json_file);
  // BOS is what the post-processor puts first; none for GPT-2 and Qwen2.5.
  if (auto pre = t.hf_->post_processor().prefix(); !pre.empty()) t.bos_id_ = pre.front();
  t.config_.bos_token = t.bos_id_ ? t.piece(*t.bos_id_) : "";
  t.config_.eos_token = "";
  t.config_.unk_token = "";
  return t;
}

Tokenizer Tokenizer::load(const fs::path& dir) {
  if (fs::exists(dir / "tokenizer.json")) {
    Tokenizer t = from_json_file(dir / "tokenizer.json");
    const auto bos = t.bos_id_;
    t.config_ = load_tokenizer_config(dir);
    // The post-processor, not config.json's bos_token_id, decides what encode adds.
    t.bos_id_ = bos;
    if (!t.config_.eos_token_ids.empty()) {
      t.eos_ids_ = t.config_.eos_token_ids;
    } else if (auto id = t.piece_id(t.config_.eos_token)) {
      t.eos_ids_ = {*id};
    }
    return t;
  }
  fs::path model = dir / "tokenizer.model";
  if (!fs::exists(model)) fail_input(dir.string(), "no tokenizer.json or tokenizer.model found");
  Tokenizer t = from_model_file(model);
  t.config_ = load_tokenizer_config(dir);
  if (auto id = t.piece_id(t.config_.bos_token)) t.bos_id_ = *id;
  if (t.config_.bos_token_id) t.bos_id_ = t.config_.bos_token_id;
  if (!t.config_.eos_token_ids.empty()) {
    t.eos_ids_ = t.config_.eos_token_ids;
  } else if (auto id = t.piece_id(t.config_.eos_token)) {
    t.eos_ids_ = {*id};
  }
  for (const auto& [id, text] : t.config_.special_tokens) {
    bool known = std::any_of(t.specials_.begin(), t.specials_.end(),
                             [&](const auto& s) { return s.first == text; });
    if (!known && id < t.vocab_size()) t.specials_.emplace_back(text, id);
  }
  std::sort(t.specials_.begin(), t.specials_.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return t;
}

std::vector<int64_t> Tokenizer::encode(std::string_view text, bool add_bos,
                                       bool parse_special) const {
  if (hf_) {
    std::vector<int32_t> ids = hf_->encode(text, add_bos, parse_special);
    return std::vector<int64_t>(ids.begin(), ids.end());
  }
  std::vector<int64_t> out;
  if (add_bos && bos_id_) out.push_back(*bos_id_);
  auto encode_plain = [&](std::string_view s) {
    if (s.empty()) return;
    int32_t* ids = nullptr;
    int64_t n = h_->lib->encode(h_->spm, s.data(), s.size(), &ids);
    if (n < 0) {
      if (ids) h_->lib->release(ids);
      throw Error(model_path_ + ": sentencepiece failed to encode text");
    }
    out.insert(out.end(), ids, ids + n);
    h_->lib->release(ids);
  };
  if (!parse_special || specials_.empty()) {
    encode_plain(text);
    return out;
  }
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best = std::string_view::npos;
    const std::pair<std::string, int64_t>* match = nullptr;
    for (const auto& sp : specials_) {  // longest first, so ties at one position pick the longest
      if (sp.first.empty()) continue;
      size_t at = text.find(sp.first, pos);
      if (at < best) {
        best = at;
        match = &sp;
      }
    }
    if (!match) {
      encode_plain(text.substr(pos));
      break;
    }
    encode_plain(text.substr(pos, best - pos));
    out.push_back(match->second);
    pos = best + match->first.size();
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  // Ids without a token are skipped, as the official library does: Qwen2.5's embedding has
  // 271 rows past its tokenizer's last id, and a model may sample one.
  if (hf_) return hf_->decode(ids, skip_special);
  std::vector<int32_t> v;
  v.reserve(ids.size());
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_size())
      throw Error("decode: token id " + std::to_string(id) + " out of range");
    v.push_back(static_cast<int32_t>(id));
  }
  char* text = nullptr;
  int64_t n = h_->lib->decode(h_->spm, v.data(), v.size(), &text);
  if (n < 0) {
    if (text) h_->lib->release(text);
    throw Error(model_path_ + ": sentencepiece failed to decode");
  }
  return h_->take_string(text, n);
}

std::string Tokenizer::piece(int64_t id) const {
  if (hf_) {
    const std::string* s = hf_->token(id);
    if (!s) throw Error("piece: token id " + std::to_string(id) + " out of range");
    return *s;
  }
  char* text = nullptr;
  int64_t n = h_->lib->id_to_piece(h_->spm, static_cast<int32_t>(id), &text);
  if (n < 0) throw Error("piece: token id " + std::to_string(id) + " out of range");
  return h_->take_string(text, n);
}

std::optional<int64_t> Tokenizer::piece_id(std::string_view piece) const {
  if (piece.empty()) return std::nullopt;
  if (hf_) {
    auto id = hf_->token_id(piece);
    return id ? std::optional<int64_t>(*id) : std::nullopt;
  }
  int32_t id = h_->lib->piece_to_id(h_->spm, piece.data(), piece.size());
  if (id < 0) return std::nullopt;
  return id;
}

int64_t Tokenizer::vocab_size() const {
  if (hf_) return hf_->vocab_size();
  return h_->lib->vocab_size(h_->spm);
}

bool Tokenizer::is_special(int64_t id) const {
  if (hf_) return hf_->is_special(id);
  return std::any_of(specials_.begin(), specials_.end(),
                     [id](const auto& s) { return s.second == id; });
}

std::string Tokenizer::kind() const {
  return hf_ ? hf_->description() : "sentencepiece";
}

std::vector<std::pair<int64_t, std::string>> Tokenizer::special_tokens() const {
  std::vector<std::pair<int64_t, std::string>> out;
  if (hf_) {
    for (const auto& a : hf_->added_tokens())
      if (a.special) out.emplace_back(a.id, a.content);
  } else {
    for (const auto& [text, id] : specials_) out.emplace_back(id, text);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TokenizerSummary summarize_tokenizer(const fs::path& dir) {
  TokenizerSummary s;
  try {
    if (fs::exists(dir / "tokenizer.json")) {
      s.kind = "tokenizer.json";
      s.kind = hf::HfTokenizer::describe(dir / "tokenizer.json", &s.special_tokens);
    } else if (fs::exists(dir / "tokenizer.model")) {
      s.kind = "sentencepiece";
      s.special_tokens = Tokenizer::load(dir).special_tokens();
    } else {
      s.kind = "none";
    }
  } catch (const Error& e) {
    s.problem = e.what();
  }
  std::sort(s.special_tokens.begin(), s.special_tokens.end());
  return s;
}

}  // namespace hqq
