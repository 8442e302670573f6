// End-to-end CLI tests of tokenizer.json checkpoints: random-weight folders shaped like Llama 3.2
// and Qwen2.5 beside the real tokenizer.json of ../shared/data tokenize, quantize, fine-tune
// (plain text and chat JSONL in the model's own template), evaluate and chat, stopping on the
// model's end-of-turn token.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>

#include "tests/e2e/cli_support.h"
#include "tests/e2e/hf_model_fixture.h"
#include "tests/test_support.h"

namespace {

namespace fs = std::filesystem;
using hqq::test::hqq;
using hqq::test::Result;
using hqq::test::TempDir;

// The token count `hqq finetune` / `hqq train` report on stderr ("... on N tokens ..."), 0 if
// none. (Parsed by hand: GCC 12's <regex> trips -Wmaybe-uninitialized in the -O1 ASan build.)
size_t data_tokens(const std::string& err) {
  for (size_t at = err.find(" on "); at != std::string::npos; at = err.find(" on ", at + 1)) {
    size_t end = at + 4;
    while (end < err.size() && std::isdigit(static_cast<unsigned char>(err[end]))) ++end;
    if (end > at + 4 && err.compare(end, 7, " tokens") == 0)
      return std::stoul(err.substr(at + 4, end - at - 4));
  }
  return 0;
}

std::vector<int64_t> token_ids(const std::string& dir, const std::string& text, bool special) {
  Result r =
      hqq("--json tokenize " + dir + (special ? "" : " --no-special") + " -p '" + text + "'");
  EXPECT_EQ(r.code, 0) << r.err;
  return r.code == 0 ? nlohmann::json::parse(r.out)["ids"].get<std::vector<int64_t>>()
                     : std::vector<int64_t>{};
}

// tokenizer.json checkpoints end to end: tokenize, info, generate, quantize, ppl, fine-tune on
// plain text.
void run_tokenizer_json_model(const hqq::test::TinyShape& shape, const std::string& prompt,
                              const std::vector<int64_t>& ids, const std::vector<int64_t>& plain,
                              const std::string& first_special, size_t once_upon_tokens) {
  TempDir tmp;
  const std::string dir = (tmp / "m").string();
  hqq::test::write_tiny_model(tmp / "m", shape);
  const std::string quoted = "'" + prompt + "'";

  Result t = hqq("--json tokenize " + dir + " -p " + quoted + " --pieces");
  ASSERT_EQ(t.code, 0) << t.err;
  auto tj = nlohmann::json::parse(t.out);
  EXPECT_EQ(tj["ids"].get<std::vector<int64_t>>(), ids);
  EXPECT_EQ(tj["pieces"].size(), ids.size());
  EXPECT_EQ(tj["tokenizer"], "tokenizer.json (BPE, ByteLevel)");
  Result ns = hqq("tokenize " + dir + " --no-special -p " + quoted);
  ASSERT_EQ(ns.code, 0) << ns.err;
  std::string want;
  for (int64_t id : plain) {
    if (!want.empty()) want += ' ';
    want += std::to_string(id);
  }
  EXPECT_EQ(ns.out, want + "\n");
  hqq::test::write_file(tmp / "in.jsonl", nlohmann::json(prompt).dump() + "\n\"\"\n" +
                                              nlohmann::json(prompt).dump() + "\n");
  Result jl = hqq("tokenize " + dir + " --jsonl " + (tmp / "in.jsonl").string());
  ASSERT_EQ(jl.code, 0) << jl.err;
  const std::string line = nlohmann::json({{"ids", ids}}).dump();
  std::vector<int64_t> empty_ids(ids.size() - plain.size() > 0 ? 1 : 0, ids[0]);
  EXPECT_EQ(jl.out, line + "\n" + nlohmann::json({{"ids", empty_ids}}).dump() + "\n" + line + "\n");
  hqq::test::write_file(tmp / "bad.jsonl", "\"ok\"\n{\"text\": 1}\n");
  Result bad = hqq("tokenize " + dir + " --jsonl " + (tmp / "bad.jsonl").string());
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("bad.jsonl:2"), std::string::npos) << bad.err;
  // Only the tokenizer files: no config.json, no weights.
  hqq::test::write_tiny_model(tmp / "tok-only", shape, /*weights=*/false);
  Result only = hqq("--json tokenize " + (tmp / "tok-only").string() + " -p " + quoted);
  ASSERT_EQ(only.code, 0) << only.err;
  EXPECT_EQ(nlohmann::json::parse(only.out)["ids"].get<std::vector<int64_t>>(), ids);

  Result info = hqq("--json info " + dir);
  ASSERT_EQ(info.code, 0) << info.err;
  auto ij = nlohmann::json::parse(info.out);
  EXPECT_EQ(ij["tokenizer"], "tokenizer.json (BPE, ByteLevel)");
  ASSERT_FALSE(ij["special_tokens"].empty());
  EXPECT_EQ(ij["special_tokens"][0]["text"], first_special);
  Result text_info = hqq("info " + dir);
  EXPECT_NE(text_info.out.find("special tokens " + first_special), std::string::npos)
      << text_info.out;

  Result g = hqq("--json -q generate " + dir + " -p 'Once upon' -n 3");
  ASSERT_EQ(g.code, 0) << g.err;
  auto gj = nlohmann::json::parse(g.out);
  EXPECT_EQ(gj["prompt_tokens"].get<size_t>(), once_upon_tokens);
  EXPECT_GE(gj["tokens"].size(), 1u);
  EXPECT_LE(gj["tokens"].size(), 3u);

  Result q = hqq("-q quantize " + dir + " -o " + (tmp / "q").string() + " --preset 2bit-g32");
  ASSERT_EQ(q.code, 0) << q.err;
  EXPECT_TRUE(fs::exists(tmp / "q" / "tokenizer.json"));
  auto text = tmp / "t.txt";
  hqq::test::write_file(
      text, hqq::test::read_file(hqq::test::shared_data() / "corpora" / "kjv" / "kjv.txt")
                .substr(0, 4000));
  for (const std::string& m : {dir, (tmp / "q").string()}) {
    Result p =
        hqq("-q --json ppl " + m + " --text " + text.string() + " --ctx 32 --max-tokens 128");
    ASSERT_EQ(p.code, 0) << p.err;
    auto pj = nlohmann::json::parse(p.out);
    // Random weights over the real vocabulary: perplexity near the vocabulary size.
    EXPECT_GT(pj["ppl"].get<double>(), 1000.0);
    EXPECT_LT(pj["ppl"].get<double>(), 1e6);
    EXPECT_EQ(pj["tokens_scored"].get<int>(), 4 * 31);
  }

  // Fine-tune the quantized model 2 steps on the text: it trains on exactly the tokens that
  // `hqq tokenize` gives for the file (the post-processor's BOS included), and the adapter loads.
  Result tt = hqq("--json tokenize " + dir + " --text " + text.string());
  ASSERT_EQ(tt.code, 0) << tt.err;
  const size_t text_tokens = nlohmann::json::parse(tt.out)["ids"].size();
  const std::string ad = (tmp / "ad").string();
  Result f = hqq("-q --json finetune " + (tmp / "q").string() + " --data " + text.string() +
                 " -o " + ad + " --steps 2 --batch 2 --seq-len 16 --rank 4");
  ASSERT_EQ(f.code, 0) << f.err;
  EXPECT_EQ(nlohmann::json::parse(f.out)["steps"], 2);
  EXPECT_EQ(data_tokens(f.err), text_tokens) << f.err;
  EXPECT_TRUE(fs::exists(tmp / "ad" / "adapter_model.safetensors"));
  Result pa = hqq("-q --json --adapter " + ad + " ppl " + (tmp / "q").string() + " --text " +
                  text.string() + " --ctx 32 --max-tokens 128");
  ASSERT_EQ(pa.code, 0) << pa.err;
  EXPECT_TRUE(std::isfinite(nlohmann::json::parse(pa.out)["ppl"].get<double>()));
}

TEST(Cli, Llama32TokenizerJsonModelEndToEnd) {
  run_tokenizer_json_model(hqq::test::llama32_shape(), "Hello world<|eot_id|> 123456",
                           {128000, 9906, 1917, 128009, 220, 4513, 10961},
                           {9906, 1917, 128009, 220, 4513, 10961}, "<|begin_of_text|>", 3);
}

TEST(Cli, Qwen25TokenizerJsonModelEndToEnd) {
  run_tokenizer_json_model(hqq::test::qwen25_shape(), "<|im_start|>user\nHello world 123<|im_end|>",
                           {151644, 872, 198, 9707, 1879, 220, 16, 17, 18, 151645},
                           {151644, 872, 198, 9707, 1879, 220, 16, 17, 18, 151645}, "<|endoftext|>",
                           2);
}

// Chat with the model's own template, from fine-tuning to the reply. The folder has three rules
// planted (see write_tiny_model): the generation prompt's last token -> "Hi" -> "!" -> the
// end-of-turn token. So a greedy reply is "Hi!" exactly when the prompt was rendered with the
// template and its generation prompt, and it ends there only if generation stops on the
// end-of-turn token, which config.json (eos = the base model's end-of-text only) does not list:
// it comes from tokenizer_config.json's eos_token, as for the real instruct models.
void run_chat_model(hqq::test::TinyShape shape, int64_t base_eos, int64_t prompt_end, int64_t hi,
                    int64_t bang, int64_t end_of_turn, size_t turn_end_tokens) {
  TempDir tmp;
  shape.eos = base_eos;
  const std::string dir = (tmp / "m").string(), q = (tmp / "q").string(),
                    ad = (tmp / "ad").string();
  hqq::test::write_tiny_model(tmp / "m", shape, true,
                              {{prompt_end, hi}, {hi, bang}, {bang, end_of_turn}});
  ASSERT_EQ(hqq("-q quantize " + dir + " -o " + q + " --preset 2bit-g32").code, 0);

  // The generation prompt alone: what a chat turn starts from.
  Result g0 = hqq("--json -q generate " + q + " --chat -p Hello -n 1");
  ASSERT_EQ(g0.code, 0) << g0.err;
  const size_t prompt_tokens = nlohmann::json::parse(g0.out)["prompt_tokens"].get<size_t>();

  // Fine-tune on chat JSONL: each record is rendered by the model's template, so its tokens are
  // the generation prompt, the answer, and the template's end of turn.
  const std::string answer = "Hi there, how can I help?";
  hqq::test::write_file(tmp / "chat.jsonl",
                        nlohmann::json({{"messages",
                                         {{{"role", "user"}, {"content", "Hello"}},
                                          {{"role", "assistant"}, {"content", answer}}}}})
                                .dump() +
                            "\n");
  Result f = hqq("-q --json finetune " + q + " --data " + (tmp / "chat.jsonl").string() + " -o " +
                 ad + " --steps 2 --batch 1 --seq-len 128 --rank 4");
  ASSERT_EQ(f.code, 0) << f.err;
  EXPECT_EQ(nlohmann::json::parse(f.out)["steps"], 2);
  EXPECT_EQ(data_tokens(f.err),
            prompt_tokens + token_ids(dir, answer, false).size() + turn_end_tokens)
      << f.err;
  ASSERT_TRUE(fs::exists(tmp / "ad" / "adapter_model.safetensors"));

  // One reply from the quantized model with its adapter: "Hi!", then the end-of-turn token.
  Result g = hqq("--json -q --adapter " + ad + " generate " + q + " --chat -p Hello -n 8");
  ASSERT_EQ(g.code, 0) << g.err;
  auto gj = nlohmann::json::parse(g.out);
  EXPECT_EQ(gj["tokens"].get<std::vector<int64_t>>(),
            (std::vector<int64_t>{hi, bang, end_of_turn}));
  EXPECT_EQ(gj["text"], "Hi!");
  EXPECT_EQ(gj["stop_reason"], "eos");
  EXPECT_EQ(gj["prompt_tokens"].get<size_t>(), prompt_tokens);
  // Without the template the rule never fires: the same words as a plain prompt run to the limit.
  Result plain = hqq("--json -q --adapter " + ad + " generate " + q + " -p Hello -n 3");
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_NE(nlohmann::json::parse(plain.out)["text"], "Hi!");

  // The terminal chat: two turns, each answered and ended the same way.
  Result c = hqq("-q --adapter " + ad + " chat " + q + " --temperature 0 -n 8",
                 "Hello\nAnd again?\n/exit\n");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "> Hi!\n> Hi!\n> ") << c.err;
}

TEST(Cli, Llama32ChatFinetuneAndReplyStopOnEotId) {
  // <|end_of_text|> 128001; "\n\n" 271 ends the generation prompt; "Hi" 13347, "!" 0;
  // <|eot_id|> 128009; an assistant turn ends with <|eot_id|> (1 token).
  run_chat_model(hqq::test::llama32_shape(), 128001, 271, 13347, 0, 128009, 1);
}

TEST(Cli, Qwen25ChatFinetuneAndReplyStopOnImEnd) {
  // <|endoftext|> 151643; "\n" 198 ends the generation prompt; "Hi" 13048, "!" 0; <|im_end|>
  // 151645; an assistant turn ends with <|im_end|> "\n" (2 tokens).
  run_chat_model(hqq::test::qwen25_shape(), 151643, 198, 13048, 0, 151645, 2);
}

// hqq train takes a tokenizer.json file as well as a tokenizer.model: it trains on that
// tokenizer's ids and ships the file with the model, which then opens with it.
TEST(Cli, TrainWithATokenizerJsonFile) {
  TempDir tmp;
  const fs::path gpt2 = hqq::test::shared_data() / "tokenizers" / "gpt2" / "tokenizer.json";
  hqq::test::write_file(tmp / "config.json",
                        nlohmann::json({{"architectures", {"LlamaForCausalLM"}},
                                        {"model_type", "llama"},
                                        {"hidden_size", 32},
                                        {"intermediate_size", 64},
                                        {"num_hidden_layers", 1},
                                        {"num_attention_heads", 2},
                                        {"num_key_value_heads", 1},
                                        {"vocab_size", 50257},
                                        {"max_position_embeddings", 64},
                                        {"rms_norm_eps", 1e-5},
                                        {"tie_word_embeddings", true}})
                            .dump());
  const fs::path text = tmp / "t.txt";
  hqq::test::write_file(
      text, hqq::test::read_file(hqq::test::shared_data() / "corpora" / "kjv" / "kjv.txt")
                .substr(0, 3000));
  const std::string out = (tmp / "out").string();
  Result t = hqq("-q --json train --config " + (tmp / "config.json").string() + " --tokenizer " +
                 gpt2.string() + " --data " + text.string() + " -o " + out +
                 " --steps 2 --batch 2 --seq-len 16");
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_EQ(nlohmann::json::parse(t.out)["steps"], 2);
  EXPECT_EQ(hqq::test::read_file(tmp / "out" / "tokenizer.json"), hqq::test::read_file(gpt2));
  EXPECT_FALSE(fs::exists(tmp / "out" / "tokenizer.model"));
  // It trained on GPT-2's ids of the text: the count `hqq tokenize` gives with that file.
  Result tt = hqq("--json tokenize " + gpt2.parent_path().string() + " --text " + text.string());
  ASSERT_EQ(tt.code, 0) << tt.err;
  const size_t want = nlohmann::json::parse(tt.out)["ids"].size();
  EXPECT_EQ(data_tokens(t.err), want) << t.err;
  // The trained folder generates with it.
  Result g = hqq("--json -q generate " + out + " -p 'In the beginning' -n 2");
  ASSERT_EQ(g.code, 0) << g.err;
  EXPECT_EQ(nlohmann::json::parse(g.out)["prompt_tokens"], 3);  // "In", " the", " beginning"
  // A .json file that is no tokenizer is refused with its name, exit 2.
  hqq::test::write_file(tmp / "bad.json", "{\"model\": {\"type\": \"Unigram\"}}");
  Result bad = hqq("-q train --config " + (tmp / "config.json").string() + " --tokenizer " +
                   (tmp / "bad.json").string() + " --data " + text.string() + " -o " +
                   (tmp / "out2").string() + " --steps 1");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("bad.json"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(tmp / "out2"));
}

// A tokenizer larger than the model's vocabulary is refused naming the tokenizer file used.
TEST(Cli, VocabMismatchNamesTheTokenizerJson) {
  TempDir tmp;
  hqq::test::TinyShape small = hqq::test::llama32_shape();
  small.vocab = 1000;  // embeddings and config of 1000 rows, the real 128256-token tokenizer
  small.bos = 1;
  small.eos = 2;
  hqq::test::write_tiny_model(tmp / "m", small);
  Result r = hqq("-q generate " + (tmp / "m").string() + " -p hi -n 1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find((tmp / "m" / "tokenizer.json").string() +
                       ": has 128256 tokens but the model's vocab_size is 1000"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("tokenizer.model"), std::string::npos) << r.err;
}

}  // namespace
