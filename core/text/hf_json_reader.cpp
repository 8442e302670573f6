#include "core/text/hf_json_reader.h"

#include <fstream>
#include <sstream>

#include "core/base/error.h"

namespace hqq::hf {
namespace {

using json = nlohmann::json;

// Forwards every event to nlohmann's DOM builder except inside model.vocab and model.merges.
class Reader : public nlohmann::json_sax<json> {
 public:
  Reader(TokenizerJson& out, bool tables) : dom_(out.doc, false), out_(out), tables_(tables) {}
  std::string error;

  bool null() override { return mode_ == Mode::Dom ? dom_.null() : bad("null"); }
  bool boolean(bool v) override { return mode_ == Mode::Dom ? dom_.boolean(v) : bad("boolean"); }
  bool number_integer(number_integer_t v) override {
    if (mode_ == Mode::Vocab) return vocab_entry(v);
    return mode_ == Mode::Dom ? dom_.number_integer(v) : bad("number");
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (mode_ == Mode::Vocab) return vocab_entry(static_cast<int64_t>(v));
    return mode_ == Mode::Dom ? dom_.number_unsigned(v) : bad("number");
  }
  bool number_float(number_float_t v, const string_t& s) override {
    return mode_ == Mode::Dom ? dom_.number_float(v, s) : bad("number");
  }
  bool string(string_t& s) override {
    switch (mode_) {
      case Mode::Dom:
        return dom_.string(s);
      case Mode::Merges:
        return merge_line(s);
      case Mode::MergePair:
        pair_.push_back(std::move(s));
        return pair_.size() <= 2 || bad("merge with more than two parts");
      case Mode::Vocab:
        return bad("string");
    }
    return false;
  }
  bool binary(binary_t&) override { return bad("binary"); }
  bool key(string_t& k) override {
    if (mode_ == Mode::Vocab) {
      pending_ = std::move(k);
      return true;
    }
    if (mode_ != Mode::Dom) return bad("key");
    key_ = k;
    return dom_.key(k);
  }
  bool start_object(std::size_t n) override {
    if (mode_ != Mode::Dom) return bad("object");
    if (in_model() && key_ == "vocab") {
      mode_ = Mode::Vocab;
      return dom_.null();
    }
    open_.push_back(key_);
    key_.clear();
    return dom_.start_object(n);
  }
  bool end_object() override {
    if (mode_ == Mode::Vocab) {
      mode_ = Mode::Dom;
      return true;
    }
    open_.pop_back();
    return dom_.end_object();
  }
  bool start_array(std::size_t n) override {
    if (mode_ == Mode::Merges) {
      mode_ = Mode::MergePair;
      pair_.clear();
      return true;
    }
    if (mode_ != Mode::Dom) return bad("array");
    if (in_model() && key_ == "merges") {
      mode_ = Mode::Merges;
      return dom_.null();
    }
    open_.push_back(key_);
    key_.clear();
    return dom_.start_array(n);
  }
  bool end_array() override {
    if (mode_ == Mode::MergePair) {
      mode_ = Mode::Merges;
      if (pair_.size() != 2) return bad("merge that is not a pair");
      if (tables_) out_.merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
      return true;
    }
    if (mode_ == Mode::Merges) {
      mode_ = Mode::Dom;
      return true;
    }
    open_.pop_back();
    return dom_.end_array();
  }
  bool parse_error(std::size_t pos, const std::string&,
                   const nlohmann::detail::exception& e) override {
    error = "not valid JSON at byte " + std::to_string(pos) + ": " + e.what();
    return false;
  }

 private:
  enum class Mode { Dom, Vocab, Merges, MergePair };
  bool in_model() const { return open_.size() == 2 && open_[1] == "model"; }
  bool bad(const char* what) {
    error = std::string("model.vocab/merges: unexpected ") + what;
    return false;
  }
  bool vocab_entry(int64_t id) {
    if (id < 0 || id > INT32_MAX) return bad("token id");
    if (tables_) out_.vocab.emplace_back(std::move(pending_), static_cast<int32_t>(id));
    return true;
  }
  bool merge_line(const std::string& s) {
    if (s.rfind("#version", 0) == 0) return true;
    size_t sp = s.find(' ');
    if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
      return bad("merge string (want \"a b\")");
    if (tables_) out_.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    return true;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  TokenizerJson& out_;
  bool tables_;
  Mode mode_ = Mode::Dom;
  std::vector<std::string> open_;  // the key each open container was opened under
  std::string key_, pending_;
  std::vector<std::string> pair_;
};

}  // namespace

TokenizerJson read_tokenizer_json(const std::filesystem::path& path, bool tables) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(path.string(), "cannot be read");
  std::string bytes;
  in.seekg(0, std::ios::end);
  bytes.resize(static_cast<size_t>(in.tellg()));
  in.seekg(0);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  TokenizerJson out;
  Reader r(out, tables);
  if (!json::sax_parse(bytes, &r) || !r.error.empty())
    fail_input(path.string(), r.error.empty() ? "not valid JSON" : r.error);
  if (!out.doc.is_object()) fail_input(path.string(), "not a JSON object");
  return out;
}

}  // namespace hqq::hf
