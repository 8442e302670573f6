#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/base/error.h"
#include "core/text/tokenizer.h"
#include "tests/test_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;

fs::path mistral_model() {
  return test::shared_data() / "tokenizers" / "mistral-7b-v0.3" / "tokenizer.model";
}
fs::path trained_model() {
  return test::fixtures() / "tokenizer" / "bpe1000.model";
}

// The first `n` non-empty lines of each corpus, cut to at most 2000 bytes at a space.
std::vector<std::string> paragraphs(size_t n) {
  std::vector<std::string> out;
  for (const char* rel :
       {"kjv/kjv.txt", "web-bible/web.txt", "sotu/sotu.txt", "moby-dick/moby-dick.txt"}) {
    std::ifstream in(test::shared_data() / "corpora" / rel);
    EXPECT_TRUE(in) << "corpus missing: " << rel;
    std::string line;
    size_t taken = 0;
    while (taken < n && std::getline(in, line)) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      if (line.size() > 2000) line = line.substr(0, line.rfind(' ', 2000));
      out.push_back(line);
      ++taken;
    }
  }
  return out;
}

// Token ids from Debian's spm_encode, one vector per input line.
std::vector<std::vector<int64_t>> spm_encode(const fs::path& model,
                                             const std::vector<std::string>& lines) {
  test::TempDir tmp;
  std::ofstream(tmp / "in.txt") << [&] {
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    return all;
  }();
  std::string cmd = "spm_encode --model=" + model.string() + " --output_format=id < " +
                    (tmp / "in.txt").string() + " > " + (tmp / "out.txt").string() + " 2>/dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0)
      << "spm_encode (Debian package sentencepiece) failed: " << cmd;
  std::vector<std::vector<int64_t>> out;
  std::ifstream in(tmp / "out.txt");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::vector<int64_t> ids;
    int64_t id;
    while (ss >> id) ids.push_back(id);
    out.push_back(ids);
  }
  return out;
}

class SpmAgreement : public ::testing::TestWithParam<fs::path (*)()> {};

TEST_P(SpmAgreement, IdsIdenticalToSpmEncodeAndDecodeRoundTrips) {
  fs::path model = GetParam()();
  Tokenizer tok = Tokenizer::from_model_file(model);
  auto lines = paragraphs(12);
  ASSERT_EQ(lines.size(), 48u);
  auto expected = spm_encode(model, lines);
  ASSERT_EQ(expected.size(), lines.size());
  size_t tokens = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto ids = tok.encode(lines[i]);
    EXPECT_EQ(ids, expected[i]) << "paragraph " << i << ": " << lines[i].substr(0, 80);
    EXPECT_EQ(tok.decode(ids), lines[i]) << "paragraph " << i;
    tokens += ids.size();
  }
  EXPECT_GT(tokens, 1000u);
}

INSTANTIATE_TEST_SUITE_P(Models, SpmAgreement, ::testing::Values(&mistral_model, &trained_model));

TEST(Tokenizer, NonAsciiUsesByteFallbackAndRoundTrips) {
  Tokenizer tok = Tokenizer::from_model_file(trained_model());
  std::string text = "Zürich — 東京 🙂 naïve";
  auto ids = tok.encode(text);
  EXPECT_EQ(tok.decode(ids), text);
  EXPECT_EQ(ids, spm_encode(trained_model(), {text})[0]);
}

TEST(Tokenizer, SpecialTokensParsedOnlyWhenAsked) {
  Tokenizer tok = Tokenizer::from_model_file(mistral_model());
  auto inst = tok.piece_id("[INST]");
  ASSERT_TRUE(inst.has_value());
  ASSERT_TRUE(tok.bos_id().has_value());
  auto ids = tok.encode("<s>[INST] Hello [/INST]", /*add_bos=*/false, /*parse_special=*/true);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids[0], *tok.bos_id());
  EXPECT_EQ(ids[1], *inst);
  EXPECT_EQ(ids.back(), *tok.piece_id("[/INST]"));
  auto plain = tok.encode("[INST]");
  EXPECT_EQ(std::count(plain.begin(), plain.end(), *inst), 0);
  EXPECT_EQ(tok.encode("Hello", /*add_bos=*/true).front(), *tok.bos_id());
}

TEST(Tokenizer, FolderConfigsSetEosListAndTemplate) {
  test::TempDir dir;
  fs::copy(trained_model(), dir / "tokenizer.model");
  test::write_file(dir / "tokenizer_config.json",
                   R"({"bos_token": {"content": "<s>"}, "eos_token": "</s>", "add_bos_token": true,
                       "chat_template": "{{ messages[0]['content'] }}"})");
  test::write_file(dir / "generation_config.json",
                   R"({"eos_token_id": [2, 7], "bos_token_id": 1})");
  Tokenizer tok = Tokenizer::load(dir.path());
  EXPECT_EQ(tok.eos_ids(), (std::vector<int64_t>{2, 7}));
  EXPECT_EQ(tok.bos_id().value_or(-1), 1);
  EXPECT_EQ(tok.config().chat_template, "{{ messages[0]['content'] }}");
}

TEST(Tokenizer, BadFilesAreNamed) {
  test::TempDir dir;
  test::write_file(dir / "tokenizer.model", "this is not a protobuf");
  try {
    Tokenizer::load(dir.path());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.model"), std::string::npos) << e.what();
  }
  fs::remove(dir / "tokenizer.model");
  test::write_file(dir / "tokenizer.json", "{}");
  EXPECT_THROW(Tokenizer::load(dir.path()), InputError);
  fs::remove(dir / "tokenizer.json");  // else it is preferred, as transformers prefers it
  fs::copy(trained_model(), dir / "tokenizer.model");
  test::write_file(dir / "tokenizer_config.json", "{ not json");
  try {
    Tokenizer::load(dir.path());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hqq
