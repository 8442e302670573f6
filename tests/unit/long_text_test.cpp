// Tokenizer::encode_long: a long text encoded in pieces gives the ids of one whole encode(), for
// every tokenizer kind the product opens (sentencepiece, ByteLevel, Metaspace, Prepend), and a
// stop lands between pieces.
#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/text/tokenizer.h"
#include "tests/test_support.h"

namespace hqq {
namespace {

namespace fs = std::filesystem;

std::string sample_text() {
  const fs::path c = test::shared_data() / "corpora";
  // Prose, verse numbers, speeches: runs of spaces, newlines, digits and punctuation.
  return test::read_file(c / "moby-dick" / "moby-dick.txt").substr(20000, 30000) +
         test::read_file(c / "kjv" / "kjv.txt").substr(5000, 15000) +
         test::read_file(c / "sotu" / "sotu.txt").substr(0, 15000) + "  double  spaces\n\n end";
}

void expect_pieces_equal_whole(const Tokenizer& tok, const std::string& label) {
  const std::string text = sample_text();
  const std::vector<int64_t> whole = tok.encode(text, true);
  for (size_t piece : {size_t{700}, size_t{4096}}) {
    const std::vector<int64_t> pieces = tok.encode_long(text, true, {}, piece);
    ASSERT_EQ(pieces.size(), whole.size()) << label << " pieces of " << piece;
    EXPECT_EQ(pieces, whole) << label << " pieces of " << piece;
  }
}

TEST(LongText, PiecesGiveTheIdsOfTheWholeTextForEveryTokenizerKind) {
  for (const char* name : {"llama-3.2", "qwen2.5-1.5b-instruct", "gpt2", "mixtral-8x22b"})
    expect_pieces_equal_whole(Tokenizer::load(test::shared_data() / "tokenizers" / name), name);
  for (const char* name : {"bytelevel-prefix", "metaspace-always", "metaspace-first", "wordy"})
    expect_pieces_equal_whole(Tokenizer::load(test::fixtures() / "tokenizers" / "synthetic" / name),
                              name);
  expect_pieces_equal_whole(Tokenizer::from_model_file(test::shared_data() / "tokenizers" /
                                                       "mistral-7b-v0.3" / "tokenizer.model"),
                            "sentencepiece");
}

TEST(LongText, ProgressAndAStopLandBetweenPieces) {
  const Tokenizer tok = Tokenizer::load(test::shared_data() / "tokenizers" / "gpt2");
  const std::string text = sample_text();
  CancelToken token;
  int events = 0;
  JobContext job{[&](const ProgressEvent& e) {
                   EXPECT_EQ(e.stage, "tokenize");
                   if (++events == 3) token.cancel();  // the fourth piece must not start
                 },
                 &token};
  EXPECT_THROW(tok.encode_long(text, true, job, 1000), Cancelled);
  EXPECT_EQ(events, 3);
  // Uncancelled, one event per piece, the last one at the whole text.
  token.reset();
  int64_t last_done = -1, total = 0;
  events = 0;
  JobContext count{[&](const ProgressEvent& e) {
    ++events;
    last_done = e.done, total = e.total;
  }};
  tok.encode_long(text, true, count, 8000);
  EXPECT_GE(events, static_cast<int>(text.size() / 8000));
  EXPECT_EQ(last_done, total);
}

}  // namespace
}  // namespace hqq
