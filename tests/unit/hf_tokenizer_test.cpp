// The tokenizer.json tokenizer against the official Hugging Face library: ids recorded by
// tests/fixtures/tokenizers/make_ids.mjs (tokenizers@0.23.2) for every paragraph of the four
// corpora, tricky strings and 6,000 random mixed-script strings, on the Llama 3.2, Qwen2.5,
// GPT-2 and Mixtral tokenizer.json files of ../shared/data.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/base/error.h"
#include "core/text/hf_bpe.h"
#include "core/text/tokenizer.h"
#include "tests/test_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;

fs::path reference_dir() {
  return test::fixtures() / "tokenizers";
}
fs::path tokenizer_dir(const std::string& name) {
  return test::shared_data() / "tokenizers" / name;
}

// Same hash as make_ids.mjs: two FNV-1a lanes over bytes.
std::string fnv(const unsigned char* p, size_t n) {
  uint32_t a = 0x811c9dc5u, b = 0x050c5d1fu;
  for (size_t i = 0; i < n; ++i) {
    a = (a ^ p[i]) * 0x01000193u;
    b = (b ^ p[i]) * 0x01000193u;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", a, b);
  return buf;
}
std::string hash_ids(const std::vector<int64_t>& ids) {
  std::vector<unsigned char> bytes;
  for (int64_t id : ids)
    for (int k = 0; k < 4; ++k)
      bytes.push_back(static_cast<unsigned char>(uint32_t(id) >> (8 * k)));
  return fnv(bytes.data(), bytes.size());
}
std::string hash_text(const std::string& s) {
  return fnv(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

std::vector<std::string> read_jsonl_strings(const fs::path& p) {
  std::ifstream in(p);
  EXPECT_TRUE(in) << "missing fixture " << p;
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// The inputs in the order make_ids.mjs wrote them: corpus paragraphs, tricky, random.
struct Inputs {
  std::vector<std::string> texts;
  size_t corpus = 0, tricky = 0;
};
const Inputs& inputs() {
  static const Inputs in = [] {
    Inputs r;
    for (const char* rel :
         {"kjv/kjv.txt", "web-bible/web.txt", "sotu/sotu.txt", "moby-dick/moby-dick.txt"}) {
      std::string all = test::read_file(test::shared_data() / "corpora" / rel);
      EXPECT_FALSE(all.empty()) << "corpus missing: " << rel;
      for (size_t pos = 0; pos <= all.size();) {
        size_t end = all.find("\n\n", pos);
        if (end == std::string::npos) end = all.size();
        if (end > pos) r.texts.push_back(all.substr(pos, end - pos));
        pos = end + 2;
      }
    }
    r.corpus = r.texts.size();
    for (auto& s : read_jsonl_strings(reference_dir() / "tricky.jsonl")) r.texts.push_back(s);
    r.tricky = r.texts.size() - r.corpus;
    for (auto& s : read_jsonl_strings(reference_dir() / "random.jsonl")) r.texts.push_back(s);
    return r;
  }();
  return in;
}

std::string show(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size() && i < 40; ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + (v.size() > 40 ? ",...]" : "]");
}

// Compares every line of a reference file with our encode/decode of the matching input.
void expect_reference(const Tokenizer& tok, const fs::path& reference,
                      const std::vector<std::string>& texts, size_t first) {
  std::ifstream ref(reference);
  ASSERT_TRUE(ref) << "missing reference ids " << reference;
  size_t n = 0, bad = 0;
  std::string first_bad;
  auto fail = [&](const std::string& what) {
    if (bad++ < 8) first_bad += "\n  input " + std::to_string(first + n) + ": " + what;
  };
  for (std::string line; std::getline(ref, line); ++n) {
    ASSERT_LT(first + n, texts.size()) << "more reference lines than inputs";
    const std::string& text = texts[first + n];
    auto j = nlohmann::json::parse(line);
    std::vector<int64_t> ids = tok.encode(text, /*add_bos=*/true, /*parse_special=*/true);
    std::vector<int64_t> plain = tok.encode(text, false, true);
    std::string dec = tok.decode(ids), dec_special = tok.decode(ids, /*skip_special=*/false);
    const std::string quoted = nlohmann::json(text).dump().substr(0, 80);
    if (j.contains("ids")) {
      auto want = j["ids"].get<std::vector<int64_t>>();
      if (ids != want) fail(quoted + " ids " + show(ids) + " want " + show(want));
      if (plain != j["ids_plain"].get<std::vector<int64_t>>()) fail(quoted + " plain ids differ");
      if (dec != j["text"].get<std::string>())
        fail(quoted + " decodes to " + nlohmann::json(dec).dump());
      if (dec_special != j["text_special"].get<std::string>())
        fail(quoted + " decodes with specials to " + nlohmann::json(dec_special).dump());
    } else {
      if (ids.size() != j["n"].get<size_t>() || hash_ids(ids) != j["h"])
        fail(quoted + " ids " + show(ids) + " (" + std::to_string(ids.size()) + ", want " +
             std::to_string(j["n"].get<size_t>()) + ")");
      if (hash_ids(plain) != j["hp"]) fail(quoted + " plain ids differ");
      if (hash_text(dec) != j["d"]) fail(quoted + " decodes to " + nlohmann::json(dec).dump());
      if (hash_text(dec_special) != j["dk"]) fail(quoted + " decodes with specials differently");
    }
  }
  EXPECT_EQ(first + n, texts.size());
  EXPECT_EQ(bad, 0u) << reference << ": " << bad << " differences in " << n << " inputs"
                     << first_bad;
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

class ReferenceIds : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceIds, EncodeAndDecodeEqualTheOfficialLibrary) {
  const std::string name = GetParam();
  Tokenizer tok = Tokenizer::load(tokenizer_dir(name));
  EXPECT_EQ(tok.kind().rfind("tokenizer.json (BPE", 0), 0u) << tok.kind();
  const Inputs& in = inputs();
  ASSERT_GE(in.corpus, 4 * 233u);
  ASSERT_GE(in.texts.size() - in.corpus - in.tricky, 5000u);
  expect_reference(tok, reference_dir() / (name + ".jsonl"), in.texts, 0);
}

// Components the four real files do not use, in small files of make_synthetic.mjs.
class SyntheticReferenceIds : public ::testing::TestWithParam<std::string> {};

TEST_P(SyntheticReferenceIds, EncodeAndDecodeEqualTheOfficialLibrary) {
  const std::string name = GetParam();
  Tokenizer tok = Tokenizer::load(reference_dir() / "synthetic" / name);
  const Inputs& in = inputs();
  expect_reference(tok, reference_dir() / "synthetic" / (name + ".jsonl"), in.texts, in.corpus);
}

INSTANTIATE_TEST_SUITE_P(HfTokenizer, SyntheticReferenceIds,
                         ::testing::Values("wordy", "metaspace-first", "metaspace-always",
                                           "bytelevel-prefix"),
                         param_name);

INSTANTIATE_TEST_SUITE_P(HfTokenizer, ReferenceIds,
                         ::testing::Values("llama-3.2", "qwen2.5-1.5b-instruct", "gpt2",
                                           "mixtral-8x22b"),
                         param_name);

// Generation decodes the whole reply after each token and emits what cannot change: text
// before a trailing U+FFFD (an incomplete UTF-8 character). That text must only ever grow.
TEST(HfTokenizer, StreamingDecodeNeverSplitsACharacter) {
  const std::string text =
      "Hi 日本語のテキスト 👨‍👩‍👧‍👦 and ünïcödé 🤷‍♂️!";
  const std::string fffd = "\xEF\xBF\xBD";
  for (const char* name : {"llama-3.2", "mixtral-8x22b"}) {
    Tokenizer tok = Tokenizer::load(tokenizer_dir(name));
    std::vector<int64_t> ids = tok.encode(text), prefix;
    std::string emitted;
    int held = 0;
    for (int64_t id : ids) {
      prefix.push_back(id);
      std::string all = tok.decode(prefix);
      size_t n = all.size();
      while (n >= 3 && all.compare(n - 3, 3, fffd) == 0) n -= 3;
      held += n < all.size();
      std::string stable = all.substr(0, n);
      ASSERT_EQ(stable.compare(0, emitted.size(), emitted), 0) << name << ": " << stable;
      emitted = stable;
    }
    EXPECT_EQ(emitted, text) << name;
    EXPECT_GT(held, 0) << name << ": no token ended inside a character";
  }
}

TEST(HfTokenizer, FolderSettingsAndModelCard) {
  Tokenizer llama = Tokenizer::load(tokenizer_dir("llama-3.2"));
  EXPECT_EQ(llama.kind(), "tokenizer.json (BPE, ByteLevel)");
  EXPECT_EQ(llama.bos_id(), 128000);
  EXPECT_EQ(llama.eos_ids(), std::vector<int64_t>{128009});  // tokenizer_config's <|eot_id|>
  EXPECT_EQ(llama.vocab_size(), 128256);
  EXPECT_TRUE(llama.is_special(128009));
  EXPECT_FALSE(llama.is_special(9906));
  EXPECT_EQ(llama.piece(1917), "\xC4\xA0world");
  EXPECT_EQ(llama.piece_id("<|eot_id|>"), 128009);
  EXPECT_EQ(llama.special_tokens().size(), 256u);
  // Special tokens in text are text unless asked for.
  EXPECT_EQ(llama.encode("<|eot_id|>", false, true), std::vector<int64_t>{128009});
  EXPECT_GT(llama.encode("<|eot_id|>", false, false).size(), 1u);
  Tokenizer qwen = Tokenizer::load(tokenizer_dir("qwen2.5-1.5b-instruct"));
  EXPECT_FALSE(qwen.bos_id());  // the post-processor adds nothing
  EXPECT_EQ(qwen.encode("Once upon", true), qwen.encode("Once upon", false));
  // Invalid UTF-8 (a stray byte in a text file) is read as U+FFFD, not a crash.
  EXPECT_EQ(qwen.encode("a\xFF"
                        "b\xE6\x97"),
            qwen.encode("a\xEF\xBF\xBD"
                        "b\xEF\xBF\xBD"));
  // Ids past the tokenizer (Qwen2.5's embedding is 271 rows longer) decode to nothing.
  EXPECT_EQ(qwen.decode({151700, 9707}), "Hello");
  TokenizerSummary mixtral = summarize_tokenizer(tokenizer_dir("mixtral-8x22b"));
  EXPECT_EQ(mixtral.kind, "tokenizer.json (BPE, byte fallback)");
  ASSERT_EQ(mixtral.special_tokens.size(), 3u);
  EXPECT_EQ(mixtral.special_tokens[1], (std::pair<int64_t, std::string>{1, "<s>"}));
  // A folder with both files uses tokenizer.json, as transformers' fast tokenizers do.
  test::TempDir dir;
  fs::copy_file(test::shared_data() / "tokenizers" / "mistral-7b-v0.3" / "tokenizer.model",
                dir / "tokenizer.model");
  fs::copy_file(tokenizer_dir("mixtral-8x22b") / "tokenizer.json", dir / "tokenizer.json");
  EXPECT_EQ(Tokenizer::load(dir.path()).kind(), "tokenizer.json (BPE, byte fallback)");
}

TEST(HfTokenizer, UnsupportedComponentsAreNamed) {
  const std::string bpe = R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []})";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})", "WordPiece model: not supported"},
      {R"({"model": {"type": "Unigram", "vocab": []}})", "Unigram model: not supported"},
      {"{" + bpe + R"(, "normalizer": {"type": "Lowercase"}})",
       "Lowercase normalizer: not supported"},
      {"{" + bpe + R"(, "pre_tokenizer": {"type": "BertPreTokenizer"}})",
       "BertPreTokenizer pre-tokenizer: not supported"},
      {"{" + bpe + R"(, "decoder": {"type": "WordPiece"}})", "WordPiece decoder: not supported"},
      {"{" + bpe + R"(, "post_processor": {"type": "Weird"}})",
       "Weird post-processor: not supported"},
      {"{" + bpe +
           R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(["}, "behavior": "Isolated"}})",
       "bad regex"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})",
       "missing from the vocabulary"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [)", "not valid JSON"},
  };
  for (const auto& [json, message] : cases) {
    test::TempDir dir;
    test::write_file(dir / "tokenizer.json", json);
    try {
      Tokenizer::load(dir.path());
      ADD_FAILURE() << "accepted: " << json;
    } catch (const InputError& e) {
      std::string what = e.what();
      EXPECT_NE(what.find((dir / "tokenizer.json").string() + ": "), std::string::npos) << what;
      EXPECT_NE(what.find(message), std::string::npos) << what;
    }
  }
}

// Without a pre-tokenizer (Mixtral's form) a paragraph is one word, which is cut before each
// U+2581 that follows another character, but only when the vocabulary shows that no merge can
// join across such a cut: the ids must be those of merging the whole word.
TEST(HfBpe, CutsAWordBeforeMetaspaceOnlyWhenNoMergeCanCrossIt) {
  const std::string m = "\u2581";
  auto ids_of = [&](bool joining) {
    std::vector<std::pair<std::string, int32_t>> vocab = {{"a", 0}, {"b", 1}, {m, 2}, {m + "b", 3}};
    std::vector<std::pair<std::string, std::string>> merges = {{m, "b"}};
    if (joining) {  // "a\u2581" ranks first: it joins the "a" before the cut to the U+2581 after
      vocab.push_back({"a" + m, 4});
      merges.insert(merges.begin(), {"a", m});
    }
    hf::Bpe bpe(vocab, merges, hf::BpeOptions{}, "tokenizer.json");
    std::vector<int32_t> ids;
    bpe.tokenize("a" + m + "b" + m + m + "a" + m + "b", ids);
    return ids;
  };
  EXPECT_EQ(ids_of(false), (std::vector<int32_t>{0, 3, 2, 2, 0, 3}));
  EXPECT_EQ(ids_of(true), (std::vector<int32_t>{4, 1, 2, 2, 4, 1}));
}

}  // namespace
}  // namespace hqq
