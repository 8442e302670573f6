// tokenizer.json checkpoints in the window: a random-weight folder shaped like Llama 3.2 or
// Qwen2.5 with the real tokenizer.json opens with its tokenizer and template on the model card,
// quantizes, fine-tunes 2 steps on chat JSONL, is evaluated, and answers one chat message,
// stopping on its end-of-turn token (the folder plants "prompt end -> Hi -> ! -> end of turn",
// see tests/e2e/hf_model_fixture.h).
#include <gtest/gtest.h>

#include <QTest>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/e2e/hf_model_fixture.h"
#include "tests/gui/gui_support.h"
#include "ui/chat_page.h"
#include "ui/evaluate_page.h"
#include "ui/finetune_page.h"
#include "ui/main_window.h"
#include "ui/model_card_widget.h"
#include "ui/model_page.h"
#include "ui/quantize_page.h"
#include "ui/workspace.h"

namespace {

namespace fs = std::filesystem;
using hqq::test::qpath;
using hqq::test::TempDir;
using hqq::test::wait_job;

struct ChatFolder {
  const char* name;
  hqq::test::TinyShape shape;
  int64_t base_eos, prompt_end, hi, end_of_turn;
  const char* stops;  // the model card's list of stop tokens
};

void PrintTo(const ChatFolder& c, std::ostream* os) {  // the test list shows the folder name
  *os << c.name;
}

class TokenizerJsonWindow : public ::testing::TestWithParam<ChatFolder> {};

TEST_P(TokenizerJsonWindow, OpenQuantizeFinetuneEvaluateAndChat) {
  const ChatFolder& c = GetParam();
  TempDir tmp;
  hqq::test::TinyShape shape = c.shape;
  shape.eos = c.base_eos;  // the end-of-turn token comes from tokenizer_config.json
  const fs::path src = tmp / c.name;
  hqq::test::write_tiny_model(src, shape, true,
                              {{c.prompt_end, c.hi}, {c.hi, 0}, {0, c.end_of_turn}});  // "!" is 0
  auto settings = hqq::test::DemoWindow::with_output_folder(hqq::test::temp_settings(tmp), tmp);
  hqq::ui::MainWindow w(*settings);
  w.resize(1280, 820);
  w.show();
  ASSERT_NO_FATAL_FAILURE(hqq::test::open_model(w, qpath(src)));
  const auto* card = w.model_page()->card();
  EXPECT_EQ(card->field("Tokenizer"), "tokenizer.json (BPE, ByteLevel)");
  EXPECT_EQ(card->field("Chat template"), QString("yes; replies stop on ") + c.stops);
  hqq::test::save_screenshot(w, QString("model_page_") + c.name);

  auto* q = w.quantize_page();
  q->set_preset("2bit-g32");
  const fs::path out = tmp / "q";
  q->set_output(qpath(out));
  q->start();
  ASSERT_TRUE(wait_job(q->runner()));
  EXPECT_TRUE(q->status_text().startsWith("Done")) << q->status_text();
  EXPECT_EQ(q->layer_rows(), 14);  // 2 layers × 7 projections
  EXPECT_TRUE(fs::exists(out / "tokenizer.json"));

  // Chat JSONL, rendered by the model's own template, and a held-out text.
  hqq::test::write_file(
      tmp / "chat.jsonl",
      nlohmann::json({{"messages",
                       {{{"role", "user"}, {"content", "Hello"}},
                        {{"role", "assistant"}, {"content", "Hi there, how can I help?"}}}}})
              .dump() +
          "\n");
  hqq::test::write_file(tmp / "eval.txt", hqq::test::read_file(hqq::test::shared_data() /
                                                               "corpora" / "kjv" / "kjv.txt")
                                              .substr(0, 3000));
  auto* ft = w.finetune_page();
  EXPECT_EQ(ft->model(), qpath(out));
  ft->set_data(qpath(tmp / "chat.jsonl"));
  ft->set_eval(qpath(tmp / "eval.txt"));
  const fs::path adapter = tmp / "adapter";
  ft->set_output(qpath(adapter));
  ft->set_steps(2, 1, 64, 2);
  ft->start();
  ASSERT_TRUE(wait_job(ft->runner(), 300000));
  EXPECT_TRUE(ft->status_text().startsWith("Done")) << ft->status_text();
  EXPECT_EQ(ft->points(), 2);
  EXPECT_TRUE(fs::exists(adapter / "adapter_model.safetensors"));

  auto* ev = w.evaluate_page();
  ASSERT_EQ(ev->model_count(), 3);
  ev->set_text(qpath(tmp / "eval.txt"));
  ev->set_limits(32, 128);
  ev->check_all();
  ev->start();
  ASSERT_TRUE(wait_job(ev->runner()));
  ASSERT_EQ(ev->history().size(), 3) << ev->status_text();
  EXPECT_EQ(std::count_if(ev->history().begin(), ev->history().end(),
                          [&](const auto& r) { return r.adapter == qpath(adapter); }),
            1);  // original, quantized, and quantized with the adapter
  for (const auto& r : ev->history()) {
    // Random weights over the real vocabulary: perplexity in the thousands at least.
    EXPECT_TRUE(std::isfinite(r.ppl));
    EXPECT_GT(r.ppl, 1000.0) << r.model;
    EXPECT_EQ(r.tokens, 4 * 31) << r.model;
  }

  // One reply from the quantized model with its adapter: "Hi!", then the end-of-turn token
  // ends it.
  auto* chat = w.chat_page();
  ASSERT_EQ(chat->model_count(), 3);
  const QList<hqq::ui::ModelChoice> choices = w.workspace().choices();
  int with_adapter = -1;
  for (int i = 0; i < choices.size(); ++i)
    if (choices[i].dir == qpath(out) && choices[i].adapter == qpath(adapter)) with_adapter = i;
  ASSERT_GE(with_adapter, 0);
  chat->set_compare(false);
  chat->select_models(with_adapter, 0);
  chat->set_sampling(0.0, 8, 1);
  chat->set_prompt("Hello");
  chat->send();
  ASSERT_TRUE(wait_job(chat->runner()));
  EXPECT_EQ(chat->transcript(0).section("Model:", 1).trimmed(), "Hi!") << chat->transcript(0);
  EXPECT_TRUE(chat->speed_text(0).contains("stop: eos")) << chat->speed_text(0);
  EXPECT_EQ(chat->messages(0), (QStringList{"user: Hello", "assistant: Hi!"}));
  w.show_page(hqq::ui::MainWindow::kChat);
  QTest::qWait(100);
  hqq::test::save_screenshot(w, QString("chat_") + c.name);
}

INSTANTIATE_TEST_SUITE_P(
    Models, TokenizerJsonWindow,
    ::testing::Values(ChatFolder{"llama32", hqq::test::llama32_shape(), 128001, 271, 13347, 128009,
                                 "<|end_of_text|>, <|eot_id|>"},
                      ChatFolder{"qwen25", hqq::test::qwen25_shape(), 151643, 198, 13048, 151645,
                                 "<|endoftext|>, <|im_end|>"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
