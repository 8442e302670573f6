#include <gtest/gtest.h>

#include <QSettings>
#include <QTableWidget>
#include <QTest>

#include "tests/gui/gui_support.h"
#include "ui/main_window.h"
#include "ui/model_card_widget.h"
#include "ui/model_page.h"
#include "ui/resource_paths.h"

namespace {

using hqq::test::save_screenshot;
using hqq::test::TempDir;

QString fixture(const char* name) {
  return QString::fromStdString((hqq::test::fixtures() / "models" / name).string());
}

TEST(ModelPage, OpensAModelAndShowsItsCard) {
  TempDir tmp;
  QSettings settings(QString::fromStdString((tmp / "s.ini").string()), QSettings::IniFormat);
  hqq::ui::MainWindow w(settings);
  w.resize(1100, 700);
  w.show();
  auto* page = w.model_page();
  page->open_model(fixture("llama_gqa_fp32"));
  ASSERT_TRUE(QTest::qWaitFor([&] { return !page->busy(); }, 10000));
  EXPECT_EQ(page->current_model(), fixture("llama_gqa_fp32"));
  EXPECT_EQ(page->card()->field("Parameters"), "119.1 K");
  EXPECT_TRUE(page->card()->field("Attention").startsWith("4 heads, 2 key/value heads"));
  EXPECT_EQ(page->card()->estimates()->rowCount(), 9);
  EXPECT_TRUE(page->error_text().isEmpty());
  EXPECT_EQ(settings.value("recentModels").toStringList().value(0), fixture("llama_gqa_fp32"));
  save_screenshot(w, "model_page");
}

TEST(ModelPage, OpensTheEmbeddedDemoModel) {
  TempDir tmp;
  QSettings settings(QString::fromStdString((tmp / "s.ini").string()), QSettings::IniFormat);
  hqq::ui::MainWindow w(settings);
  w.show();
  const QString demo = hqq::ui::demo_model_dir();
  ASSERT_FALSE(demo.isEmpty());
  w.model_page()->open_model(demo);
  ASSERT_TRUE(QTest::qWaitFor([&] { return !w.model_page()->busy(); }, 10000));
  EXPECT_EQ(w.model_page()->card()->field("Parameters"), "4.20 M");
  EXPECT_EQ(w.model_page()->card()->field("Tokenizer"), "sentencepiece");
  save_screenshot(w, "model_page_demo");
}

TEST(ModelPage, BadFolderShowsAMessageAndTheWindowKeepsWorking) {
  TempDir tmp;
  QSettings settings(QString::fromStdString((tmp / "s.ini").string()), QSettings::IniFormat);
  hqq::ui::MainWindow w(settings);
  w.show();
  auto* page = w.model_page();
  page->open_model(QString::fromStdString(tmp.path().string()));
  ASSERT_TRUE(QTest::qWaitFor([&] { return !page->busy(); }, 10000));
  EXPECT_TRUE(page->error_text().contains("config.json")) << page->error_text().toStdString();
  save_screenshot(w, "model_page_error");
  // A corrupt weights file: the message names it.
  hqq::test::write_file(
      tmp / "config.json",
      hqq::test::read_file(hqq::test::fixtures() / "models" / "qwen2_bias_fp16" / "config.json"));
  hqq::test::write_file(tmp / "model.safetensors", "garbage that is not safetensors");
  page->open_model(QString::fromStdString(tmp.path().string()));
  ASSERT_TRUE(QTest::qWaitFor([&] { return !page->busy(); }, 10000));
  EXPECT_TRUE(page->error_text().contains("model.safetensors")) << page->error_text().toStdString();
  // And a good model still opens afterwards.
  page->open_model(fixture("qwen2_bias_fp16"));
  ASSERT_TRUE(QTest::qWaitFor([&] { return !page->busy(); }, 10000));
  EXPECT_TRUE(page->error_text().isEmpty());
  EXPECT_EQ(page->current_model(), fixture("qwen2_bias_fp16"));
}

}  // namespace
