// Outputs go where users find them and stay there; results say what they are.
#include <gtest/gtest.h>

#include <QLineEdit>
#include <QTest>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/load/model_loader.h"
#include "core/quant/calibration.h"
#include "core/quant/model_card.h"
#include "tests/gui/gui_support.h"
#include "ui/chat_page.h"
#include "ui/evaluate_page.h"
#include "ui/finetune_page.h"
#include "ui/inspect_page.h"
#include "ui/output_paths.h"
#include "ui/path_edit.h"
#include "ui/quantize_page.h"
#include "ui/recent_models.h"

namespace {

namespace fs = std::filesystem;
using hqq::test::DemoWindow;
using hqq::test::qpath;
using hqq::test::wait_job;
using hqq::ui::MainWindow;

QString fixture(const char* name) {
  return qpath(hqq::test::fixtures() / "models" / name);
}

QLineEdit* output_field(hqq::ui::QuantizePage* q) {
  return q->findChild<hqq::ui::PathEdit*>("output");
}

TEST(Outputs, TheDemoModelsResultsGoToTheUsersFolderNotTheReadOnlyOne) {
  DemoWindow d;
  auto* q = d.w.quantize_page();
  q->set_preset("4bit-g64");
  const QString root = hqq::ui::output_root(*d.settings);
  EXPECT_EQ(root, qpath(d.tmp / "outputs"));
  EXPECT_EQ(q->output(), root + "/demo-model-hqq-4bit-g64");
  EXPECT_FALSE(q->output().startsWith(hqq::ui::demo_model_dir()));
  // A model in a writable folder: its results go next to it.
  fs::copy(hqq::test::fixtures() / "models" / "llama_gqa_fp32", d.tmp / "mine");
  hqq::test::open_model(d.w, qpath(d.tmp / "mine"));
  EXPECT_EQ(q->output(), qpath(d.tmp / "mine-hqq-4bit-g64"));
  EXPECT_EQ(d.w.finetune_page()->output(), qpath(d.tmp / "mine-adapter"));
  // With no setting, the default is in the user's documents (or data) folder.
  EXPECT_TRUE(hqq::ui::default_output_root().endsWith("/HQQ Studio"));
}

TEST(Outputs, ATypedOutputPathSurvivesReopeningTheModel) {
  DemoWindow d;
  auto* q = d.w.quantize_page();
  QLineEdit* out = output_field(q);
  ASSERT_NE(out, nullptr);
  const QString typed = qpath(d.tmp / "my-quantized-model");
  out->selectAll();
  QTest::keyClicks(out, typed);  // typed, as a user would
  EXPECT_EQ(q->output(), typed);
  hqq::test::open_demo(d.w);  // reopened
  EXPECT_EQ(q->output(), typed);
  q->set_preset("2bit-g32");  // another preset does not overwrite it either
  EXPECT_EQ(q->output(), typed);
  hqq::test::open_model(d.w, fixture("llama_gqa_fp32"));  // another model gets its own default
  EXPECT_NE(q->output(), typed);
  hqq::test::open_demo(d.w);
  EXPECT_EQ(q->output(), typed);
  {
    MainWindow later(*d.settings);  // and the next start
    hqq::test::open_demo(later);
    EXPECT_EQ(later.quantize_page()->output(), typed);
  }
}

// Calibration from the Quantize page: the statistics file is taken, and the page, the report
// and the model card (Model page, `hqq info`) say the result is calibrated and on what text.
TEST(Outputs, ACalibratedQuantizationSaysSoOnThePageTheReportAndTheCard) {
  DemoWindow d;
  {
    hqq::LoadedModel m = hqq::load_model(HQQ_TEST_DEMO_MODEL_DIR, {.dtype = "float32"});
    const std::string text =
        hqq::test::read_file(hqq::test::shared_data() / "corpora" / "kjv" / "kjv.txt");
    auto tokens = m.require_tokenizer().encode(text.substr(0, 20000), false);
    hqq::CalibrationStats s =
        hqq::collect_calibration(m.model, tokens, {.ctx = 128, .max_tokens = 1024});
    s.text = "kjv.txt";
    hqq::save_calibration(s, {d.tmp / "stats.safetensors"});
  }
  auto* q = d.w.quantize_page();
  EXPECT_EQ(q->calibration(), "");  // calibration-free unless asked
  q->set_preset("2bit-g32");
  const QString out = qpath(d.tmp / "q2cal");
  q->set_output(out);
  q->set_calibration(qpath(d.tmp / "stats.safetensors"));
  q->start();
  ASSERT_TRUE(wait_job(q->runner()));
  EXPECT_TRUE(q->status_text().contains("calibrated with stats.safetensors"))
      << q->status_text().toStdString();
  auto report = nlohmann::json::parse(hqq::test::read_file(d.tmp / "q2cal" / "hqq_report.json"));
  EXPECT_EQ(report["calibrated"], true);
  EXPECT_NE(
      hqq::describe_model(d.tmp / "q2cal").quantization.find("calibrated on kjv.txt (1024 tokens)"),
      std::string::npos)
      << hqq::describe_model(d.tmp / "q2cal").quantization;
  // A file that is not statistics: the job fails with the file named, nothing is written.
  q->set_output(qpath(d.tmp / "q2bad"));
  q->set_calibration(qpath(fs::path(HQQ_TEST_DEMO_MODEL_DIR) / "model.safetensors"));
  q->start();
  ASSERT_TRUE(wait_job(q->runner()));
  EXPECT_TRUE(q->status_text().contains("not a calibration file"))
      << q->status_text().toStdString();
  EXPECT_FALSE(fs::exists(d.tmp / "q2bad"));
}

// The Embeddings / lm_head fields: the demo's tied matrix at 8 bits leaves only the norms in full
// precision, shrinks the planned size by what the matrix saves, and is what the job writes.
TEST(Outputs, AnEightBitEmbeddingMatrixIsPlannedCountedAndWritten) {
  DemoWindow d;
  auto* q = d.w.quantize_page();
  q->set_preset("4bit-g64");
  EXPECT_EQ(q->lm_head_bits(), 0);  // kept unless asked
  EXPECT_EQ(q->embed_bits(), 0);
  EXPECT_EQ(q->plan().lm_head_bits, 0);
  const QString before = q->size_text(), kept_before = q->kept_text();
  auto mb = [](const QString& size) {
    return size.section("model ", 1).section(" MB", 0, 0).toDouble();
  };
  q->set_lm_head_bits(8);
  EXPECT_EQ(q->plan().lm_head_bits, 8);
  EXPECT_TRUE(q->kept_text().startsWith("Kept in full precision: norms"))
      << q->kept_text().toStdString();
  // 4096 x 256: 4.19 MB in fp32, 1.06 MB at 8 bits with its meta.
  EXPECT_NEAR(mb(before) - mb(q->size_text()), 3.1, 0.2)
      << before.toStdString() << " / " << q->size_text().toStdString();
  EXPECT_EQ(q->size_text().section(" bits/weight", 0, 0), before.section(" bits/weight", 0, 0));
  q->set_output(qpath(d.tmp / "q8e"));
  q->start();
  ASSERT_TRUE(wait_job(q->runner()));
  const std::string weights = hqq::test::read_file(d.tmp / "q8e" / "model.safetensors");
  EXPECT_NE(weights.find("model.embed_tokens.W_q"), std::string::npos);
  EXPECT_EQ(weights.find("model.embed_tokens.weight"), std::string::npos);
  q->set_lm_head_bits(0);
  EXPECT_EQ(q->kept_text(), kept_before);
}

TEST(Outputs, AfterAQuantizationOpenEvaluateChatAndTheRecentList) {
  DemoWindow d;
  auto* q = d.w.quantize_page();
  EXPECT_FALSE(q->result_actions_visible());
  q->set_preset("4bit-g64");
  const QString out = qpath(d.tmp / "q4");
  q->set_output(out);
  q->start();
  ASSERT_TRUE(wait_job(q->runner()));
  EXPECT_TRUE(q->result_actions_visible());
  EXPECT_EQ(hqq::ui::RecentModels(*d.settings).list().value(0), out);
  // "Evaluate": the Evaluate page with the original and the result ticked.
  Q_EMIT q->evaluate_requested(out);
  EXPECT_EQ(d.w.page(MainWindow::kEvaluate)->isVisible(), true);
  QStringList ticked = d.w.evaluate_page()->checked_dirs();
  ticked.sort();
  QStringList expect{hqq::ui::demo_model_dir(), out};
  expect.sort();
  EXPECT_EQ(ticked, expect);
  // "Open": the Model page shows it.
  Q_EMIT q->open_requested(out);
  ASSERT_TRUE(QTest::qWaitFor([&] { return !d.w.model_page()->busy(); }, 10000));
  EXPECT_EQ(d.w.model_page()->current_model(), out);
  EXPECT_TRUE(d.w.page(MainWindow::kModel)->isVisible());
}

TEST(Results, OpeningAnotherModelClearsTheQuantizeTable) {
  DemoWindow d;
  auto* q = d.w.quantize_page();
  q->set_preset("4bit-g64");
  q->set_output(qpath(d.tmp / "q4"));
  q->start();
  ASSERT_TRUE(wait_job(q->runner()));
  ASSERT_EQ(q->layer_rows(), 28);
  hqq::test::open_model(d.w, fixture("llama_gqa_fp32"));
  EXPECT_EQ(q->layer_rows(), 0);
  EXPECT_FALSE(q->result_actions_visible());
}

TEST(Results, ACancelledRunIsLabelledInInspect) {
  DemoWindow d;
  auto* q = d.w.quantize_page();
  q->set_preset("8bit-g128");
  q->set_output(qpath(d.tmp / "cancelled"));
  int layers = 0;
  QObject::connect(q, &hqq::ui::QuantizePage::layer_done, q, [&] {
    if (++layers == 2) q->cancel();
  });
  q->start();
  ASSERT_TRUE(wait_job(q->runner()));
  auto* inspect = d.w.inspect_page();
  const int n = static_cast<int>(inspect->reports().size());
  ASSERT_GE(n, 2);
  ASSERT_LT(n, 28);
  EXPECT_TRUE(inspect->summary_text().startsWith(QString("Cancelled after %1 of 28 layers").arg(n)))
      << inspect->summary_text().toStdString();
  d.w.show_page(MainWindow::kInspect);
  QTest::qWait(250);
  hqq::test::save_screenshot(d.w, "page_inspect_cancelled");
}

TEST(Results, ChatStatusFollowsTheStream) {
  DemoWindow d;
  auto* chat = d.w.chat_page();
  chat->set_sampling(0.0, 4000, 0);
  chat->set_prompt("Tell me about the Union");
  chat->send();
  ASSERT_TRUE(QTest::qWaitFor(
      [&] { return chat->transcript(0).section("Model:", 1).trimmed().size() > 20; }, 30000));
  EXPECT_EQ(chat->status_text(0), "Replying…");
  chat->stop();
  ASSERT_TRUE(wait_job(chat->runner()));
  EXPECT_TRUE(chat->status_text(0).contains("stop: cancelled")) << chat->status_text(0);
}

TEST(Results, CompareModeStartsBothSidesFromTheSameHistory) {
  DemoWindow d;
  auto* chat = d.w.chat_page();
  chat->set_sampling(0.0, 4, 0);
  chat->set_prompt("Hello");
  chat->send();  // a first turn with one model
  ASSERT_TRUE(wait_job(chat->runner()));
  ASSERT_EQ(chat->messages(0).filter(QRegularExpression("^user: ")).size(), 1);
  chat->set_compare(true);  // now two models: both start from the same (new) conversation
  chat->select_models(0, 0);
  chat->set_prompt("The State of the Union is");
  chat->send();
  ASSERT_TRUE(wait_job(chat->runner()));
  const QStringList left = chat->messages(0).filter(QRegularExpression("^(user|system): "));
  const QStringList right = chat->messages(1).filter(QRegularExpression("^(user|system): "));
  EXPECT_EQ(left, right);
  EXPECT_EQ(left.filter("user: ").size(), 1) << left.join(" | ").toStdString();
  for (int side = 0; side < 2; ++side) {
    EXPECT_FALSE(chat->transcript(side).contains("You: Hello")) << side;
    EXPECT_TRUE(chat->transcript(side).contains("You: The State of the Union is")) << side;
  }
}

}  // namespace
