// How long the window can go without reacting while heavy jobs run: a 2-layer model with
// TinyLlama's layer shapes (hidden 2048, FFN 5632; 88 M parameters in its projections) is
// quantized and fine-tuned from the GUI while a 10 ms timer measures how late the UI thread
// serves it. The figures are printed for the record; the assertion is that the job never holds
// the UI thread (a job run on it would stall the window for its whole duration).
#include <gtest/gtest.h>

#include <QElapsedTimer>
#include <QTest>
#include <cstdio>

#include "tests/bench/bench_checkpoints.h"
#include "tests/gui/gui_support.h"
#include "ui/event_loop_monitor.h"
#include "ui/finetune_page.h"
#include "ui/main_window.h"
#include "ui/model_page.h"
#include "ui/quantize_page.h"
#include "ui/resource_paths.h"

namespace {

namespace fs = std::filesystem;
using hqq::test::qpath;

TEST(Responsiveness, WindowKeepsReactingDuringQuantizationAndTraining) {
  hqq::test::TempDir tmp;
  hqq::bench::Shape shape;
  shape.vocab = 4096;  // the demo tokenizer's, so the model can be fine-tuned on real text
  shape.layers = 2;
  shape.max_positions = 512;
  const fs::path model = tmp / "tinyllama-2-layers";
  hqq::bench::write_random_checkpoint(model, shape);
  const fs::path demo = hqq::ui::demo_model_dir().toStdString();
  for (const char* f : {"tokenizer.model", "tokenizer_config.json"})
    fs::copy_file(demo / f, model / f);

  auto settings = hqq::test::temp_settings(tmp);
  hqq::ui::MainWindow w(*settings);
  w.show();
  w.model_page()->open_model(qpath(model));
  ASSERT_TRUE(QTest::qWaitFor([&] { return !w.model_page()->busy(); }, 10000));

  auto* q = w.quantize_page();
  q->set_preset("2bit-g32");
  q->set_output(qpath(tmp / "q"));
  hqq::ui::EventLoopMonitor monitor(10);
  QElapsedTimer clock;
  clock.start();
  q->start();
  ASSERT_TRUE(hqq::test::wait_job(q->runner(), 600000));
  const double quantize_ms = double(clock.elapsed());
  const double quantize_stall = monitor.longest_stall_ms();
  ASSERT_TRUE(q->status_text().startsWith("Done")) << q->status_text();

  auto* ft = w.finetune_page();
  ft->set_data(qpath(hqq::test::sample_data() / "finetune.txt"));
  ft->set_eval("");
  ft->set_output(qpath(tmp / "adapter"));
  ft->set_steps(4, 1, 128, 0);
  monitor.reset();
  clock.restart();
  ft->start();
  ASSERT_TRUE(hqq::test::wait_job(ft->runner(), 600000));
  const double train_ms = double(clock.elapsed());
  const double train_stall = monitor.longest_stall_ms();
  ASSERT_TRUE(ft->status_text().startsWith("Done")) << ft->status_text();

  std::printf("[ measure  ] quantize 2-bit g32: %.0f ms, longest UI stall %.0f ms\n", quantize_ms,
              quantize_stall);
  std::printf("[ measure  ] fine-tune 4 steps:  %.0f ms, longest UI stall %.0f ms\n", train_ms,
              train_stall);
  EXPECT_LT(quantize_stall, quantize_ms / 4);
  EXPECT_LT(train_stall, train_ms / 4);
}

}  // namespace
