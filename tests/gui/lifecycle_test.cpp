// Never lose work silently, never crash on the way out: quitting with a job running asks first,
// and confirmed, cancels and waits for every job, leaving nothing partial; destroying the window
// mid-job (a chat reply, a quantization, a fine-tuning run) is clean because every page stops its
// job before its own state goes. And libtorch's errors reach users without their C++ backtrace.
#include <gtest/gtest.h>

#include <c10/util/Exception.h>

#include <QTest>
#include <filesystem>

#include "tests/bench/bench_checkpoints.h"
#include "tests/gui/gui_support.h"
#include "ui/chat_page.h"
#include "ui/finetune_page.h"
#include "ui/quantize_page.h"

namespace {

namespace fs = std::filesystem;
using hqq::test::answer_next_message_box;
using hqq::test::DemoWindow;
using hqq::test::leftovers;
using hqq::test::qpath;
using hqq::ui::MainWindow;

// A model whose quantization takes seconds (2 layers of TinyLlama's shapes), so that it is
// still running when the test closes the window.
fs::path slow_model(const hqq::test::TempDir& tmp) {
  hqq::bench::Shape shape;
  shape.vocab = 4096;
  shape.layers = 2;
  shape.max_positions = 512;
  const fs::path model = tmp / "slow-model";
  hqq::bench::write_random_checkpoint(model, shape);
  return model;
}

TEST(Lifecycle, QuitWithARunningQuantizationAsksAndConfirmedCancelsCleanly) {
  hqq::test::TempDir tmp;
  const fs::path model = slow_model(tmp);
  auto settings = hqq::test::temp_settings(tmp);
  auto w = std::make_unique<MainWindow>(*settings);
  w->show();
  hqq::test::open_model(*w, qpath(model));
  auto* q = w->quantize_page();
  q->set_preset("4bit-g64");
  q->set_output(qpath(tmp / "out"));
  q->start();
  ASSERT_TRUE(q->runner()->running());

  // "Keep working": the window stays and the job goes on.
  QString asked;
  answer_next_message_box(QMessageBox::No, &asked);
  EXPECT_FALSE(w->close());
  EXPECT_EQ(asked, "A quantization is running — cancel it and quit?");
  EXPECT_TRUE(w->isVisible());
  EXPECT_TRUE(q->runner()->running());

  // "Cancel and quit": closed, the job has ended and nothing is left on disk.
  answer_next_message_box(QMessageBox::Yes, &asked);
  EXPECT_TRUE(w->close());
  EXPECT_FALSE(w->isVisible());
  QTest::qWait(50);  // the job's end is delivered (queued) after the wait in closeEvent
  EXPECT_FALSE(q->runner()->running());
  w.reset();
  EXPECT_FALSE(fs::exists(tmp / "out"));
  EXPECT_EQ(leftovers(tmp.path(), {"settings.ini", "slow-model"}), std::vector<std::string>{});
}

TEST(Lifecycle, QuitWithoutJobsAsksNothing) {
  DemoWindow d;
  EXPECT_TRUE(d.w.close());
  EXPECT_TRUE(d.w.last_close_question().isEmpty());
}

TEST(Lifecycle, ClosingTheWindowDuringAChatReplyIsClean) {
  hqq::test::TempDir tmp;
  auto settings = hqq::test::temp_settings(tmp);
  auto w = std::make_unique<MainWindow>(*settings);
  w->show();
  hqq::test::open_demo(*w);
  auto* chat = w->chat_page();
  chat->set_sampling(0.0, 4000, 0);  // a long greedy reply
  chat->set_prompt("Tell me about the Union");
  chat->send();
  ASSERT_TRUE(QTest::qWaitFor(
      [&] { return chat->transcript(0).section("Model:", 1).trimmed().size() > 10; }, 30000));
  ASSERT_TRUE(chat->runner()->running());
  QString asked;
  answer_next_message_box(QMessageBox::Yes, &asked);
  EXPECT_TRUE(w->close());
  EXPECT_EQ(asked, "A chat reply is running — cancel it and quit?");
  w.reset();  // the pages go while the worker may still have posted pieces in the queue
  QTest::qWait(50);
}

TEST(Lifecycle, DestroyingTheWindowMidReplyWaitsForTheWorker) {
  // No close event at all (e.g. the application quitting): each page stops its own job first.
  hqq::test::TempDir tmp;
  auto settings = hqq::test::temp_settings(tmp);
  auto w = std::make_unique<MainWindow>(*settings);
  w->show();
  hqq::test::open_demo(*w);
  auto* chat = w->chat_page();
  chat->set_compare(true);
  chat->select_models(0, 0);
  chat->set_sampling(0.0, 4000, 0);
  chat->set_prompt("Tell me about the Union");
  chat->send();
  ASSERT_TRUE(QTest::qWaitFor(
      [&] { return chat->transcript(0).section("Model:", 1).trimmed().size() > 10; }, 30000));
  w.reset();
  QTest::qWait(50);
}

TEST(Lifecycle, ClosingTheWindowDuringAQuantizationLeavesNothing) {
  hqq::test::TempDir tmp;
  const fs::path model = slow_model(tmp);
  auto settings = hqq::test::temp_settings(tmp);
  auto w = std::make_unique<MainWindow>(*settings);
  w->show();
  hqq::test::open_model(*w, qpath(model));
  w->quantize_page()->set_output(qpath(tmp / "out"));
  w->quantize_page()->start();
  QTest::qWait(200);
  ASSERT_TRUE(w->quantize_page()->runner()->running());
  w.reset();  // destroyed mid-job
  EXPECT_FALSE(fs::exists(tmp / "out"));
  EXPECT_EQ(leftovers(tmp.path(), {"settings.ini", "slow-model"}), std::vector<std::string>{});
}

TEST(Lifecycle, ClosingTheWindowDuringFineTuningIsClean) {
  hqq::test::TempDir tmp;
  auto settings = hqq::test::temp_settings(tmp);
  auto w = std::make_unique<MainWindow>(*settings);
  w->show();
  hqq::test::open_demo(*w);
  auto* ft = w->finetune_page();
  ft->set_model(hqq::ui::demo_model_dir());
  ft->set_data(qpath(hqq::test::sample_data() / "finetune.txt"));
  ft->set_eval("");
  ft->set_output(qpath(tmp / "adapter"));
  ft->set_steps(500, 1, 32, 0);
  ft->start();
  ASSERT_TRUE(QTest::qWaitFor([&] { return ft->points() >= 1; }, 60000)) << ft->status_text();
  QString asked;
  answer_next_message_box(QMessageBox::Yes, &asked);
  EXPECT_TRUE(w->close());
  EXPECT_EQ(asked, "A fine-tuning run is running — cancel it and quit?");
  QTest::qWait(50);
  EXPECT_FALSE(ft->runner()->running());
  w.reset();
  // Cancelled: no finished adapter, only the resumable checkpoint (if one was due).
  EXPECT_FALSE(fs::exists(tmp / "adapter" / "adapter_config.json"));
}

TEST(Lifecycle, LibtorchErrorsReachUsersWithoutTheirBacktrace) {
  hqq::ui::JobRunner r("Test");
  QString error;
  QObject::connect(&r, &hqq::ui::JobRunner::finished,
                   [&](bool, bool, const QString& e) { error = e; });
  r.start([](hqq::ui::JobRunner&) { TORCH_CHECK(false, "shapes do not match: 3 vs 4"); });
  ASSERT_TRUE(hqq::test::wait_job(&r));
  EXPECT_TRUE(error.contains("shapes do not match: 3 vs 4")) << error.toStdString();
  EXPECT_FALSE(error.contains("frame #")) << error.toStdString();
  EXPECT_FALSE(error.contains("Exception raised from")) << error.toStdString();
}

}  // namespace
