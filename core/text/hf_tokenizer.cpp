#include "core/text/hf_tokenizer.h"

#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/text/hf_json_reader.h"
#include "core/text/hf_unicode.h"

namespace hqq::hf {
namespace {

using json = nlohmann::json;

std::string optional_string(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? std::string() : it->get<std::string>();
}

// The model must be BPE; older files leave "type" out.
void check_model(const json& model, const std::string& file) {
  if (!model.is_object()) fail_input(file, "no \"model\" object");
  std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") fail_input(file, type + " model: not supported");
  if (auto d = model.find("dropout"); d != model.end() && !d->is_null() && d->get<double>() != 0)
    fail_input(file, "BPE model: dropout is not supported (ids would be random)");
}

std::string describe_doc(const json& doc, const PreTokenizer* pre) {
  std::string kinds = "BPE";
  if (pre) kinds += ", " + pre->name();
  if (doc.at("model").value("byte_fallback", false)) kinds += ", byte fallback";
  return "tokenizer.json (" + kinds + ")";
}

}  // namespace

std::string HfTokenizer::describe(const std::filesystem::path& file,
                                  std::vector<std::pair<int64_t, std::string>>* specials) {
  TokenizerJson tj = read_tokenizer_json(file, /*tables=*/false);
  const std::string f = file.string();
  try {
    check_model(tj.doc.value("model", json()), f);
    auto pre = make_pre_tokenizer(tj.doc.value("pre_tokenizer", json()), f);
    if (specials)
      for (const auto& e : tj.doc.value("added_tokens", json::array()))
        if (e.value("special", false))
          specials->emplace_back(e.at("id").get<int64_t>(), e.at("content").get<std::string>());
    return describe_doc(tj.doc, pre.get());
  } catch (const json::exception& e) {
    fail_input(f, std::string("malformed: ") + e.what());
  }
}

std::shared_ptr<const HfTokenizer> HfTokenizer::load(const std::filesystem::path& file) {
  TokenizerJson tj = read_tokenizer_json(file);
  const std::string f = file.string();
  const json& doc = tj.doc;
  const json model = doc.value("model", json());
  check_model(model, f);
  std::shared_ptr<HfTokenizer> t(new HfTokenizer());
  try {
    t->normalizer_ = make_normalizer(doc.value("normalizer", json()), f);
    t->pre_tokenizer_ = make_pre_tokenizer(doc.value("pre_tokenizer", json()), f);
    t->decoder_ = make_decoder(doc.value("decoder", json()), f);
    t->post_ = PostProcessor(doc.value("post_processor", json()), f);
    BpeOptions o;
    if (std::string unk = optional_string(model, "unk_token"); !unk.empty()) o.unk_token = unk;
    o.continuing_subword_prefix = optional_string(model, "continuing_subword_prefix");
    o.end_of_word_suffix = optional_string(model, "end_of_word_suffix");
    o.byte_fallback = model.value("byte_fallback", false);
    o.fuse_unk = model.value("fuse_unk", false);
    o.ignore_merges = model.value("ignore_merges", false);
    if (tj.vocab.empty()) fail_input(f, "BPE model: no vocabulary");
    t->bpe_ = std::make_unique<Bpe>(std::move(tj.vocab), tj.merges, std::move(o), f);
    tj.merges.clear();

    std::vector<AddedToken> added;
    for (const auto& e : doc.value("added_tokens", json::array())) {
      AddedToken a;
      a.id = e.at("id").get<int32_t>();
      a.content = e.at("content").get<std::string>();
      a.special = e.value("special", false);
      a.single_word = e.value("single_word", false);
      a.lstrip = e.value("lstrip", false);
      a.rstrip = e.value("rstrip", false);
      a.normalized = e.value("normalized", !a.special);
      if (a.content.empty()) fail_input(f, "added token " + std::to_string(a.id) + " is empty");
      added.push_back(std::move(a));
    }
    t->vocab_size_ = t->bpe_->size();
    for (const auto& a : added) t->vocab_size_ = std::max<int64_t>(t->vocab_size_, a.id + 1);
    t->special_.assign(static_cast<size_t>(t->vocab_size_), false);
    for (const auto& a : added)
      if (a.special) t->special_[static_cast<size_t>(a.id)] = true;
    t->added_ = AddedTokens(std::move(added), t->normalizer_.get());
  } catch (const json::exception& e) {
    fail_input(f, std::string("malformed: ") + e.what());
  }
  for (int32_t id : t->post_.prefix())
    if (id < 0 || id >= t->vocab_size_) fail_input(f, "post_processor: token id out of range");
  t->description_ = describe_doc(doc, t->pre_tokenizer_.get());
  return t;
}

std::vector<int32_t> HfTokenizer::encode(std::string_view text, bool add_special,
                                         bool parse_special) const {
  // The library takes Rust strings, valid UTF-8 by construction; bytes from a file may not be
  // (and Oniguruma must never see a truncated sequence): invalid bytes become U+FFFD first.
  std::string repaired;
  if (!is_valid_utf8(text)) {
    repaired = from_utf8_lossy(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<PreSplit> words;
  for (auto& seg : added_.split(text, normalizer_.get(), parse_special)) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    words.clear();
    words.push_back({std::move(seg.text), seg.at_start});
    if (pre_tokenizer_) pre_tokenizer_->split(words);
    for (const auto& w : words) bpe_->tokenize(w.text, ids);
  }
  if (add_special) post_.apply(ids);
  return ids;
}

const std::string* HfTokenizer::token(int64_t id) const {
  if (id < 0 || id > INT32_MAX) return nullptr;
  if (const AddedToken* a = added_.find(static_cast<int32_t>(id))) return &a->content;
  return bpe_->id_to_token(static_cast<int32_t>(id));
}

std::optional<int32_t> HfTokenizer::token_id(std::string_view token) const {
  if (const AddedToken* a = added_.find(token)) return a->id;
  return bpe_->token_to_id(token);
}

bool HfTokenizer::is_special(int64_t id) const {
  return id >= 0 && id < vocab_size_ && special_[static_cast<size_t>(id)];
}

std::string HfTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) {
    if (skip_special && is_special(id)) continue;
    if (const std::string* s = token(id)) tokens.push_back(*s);
  }
  if (!decoder_) {  // the library joins with spaces when the file has no decoder
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  decoder_->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

}  // namespace hqq::hf
