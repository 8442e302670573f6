// The whole job in the window, on the embedded demo model: open, quantize to 2 bits, inspect a
// layer, fine-tune an adapter, evaluate the three models, chat with two side by side, cancel
// jobs, and bad input. Every page is saved as a screenshot under the build folder.
#include <gtest/gtest.h>

#include <qcustomplot.h>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QTest>
#include <cstdio>
#include <filesystem>

#include "core/quant/quant_plan.h"
#include "tests/gui/gui_support.h"
#include "ui/chart.h"
#include "ui/chat_page.h"
#include "ui/evaluate_page.h"
#include "ui/event_loop_monitor.h"
#include "ui/finetune_page.h"
#include "ui/inspect_page.h"
#include "ui/main_window.h"
#include "ui/model_page.h"
#include "ui/plan_editor.h"
#include "ui/quantize_page.h"
#include "ui/resource_paths.h"
#include "ui/resources_dock.h"
#include "ui/workspace.h"

namespace {

namespace fs = std::filesystem;
using hqq::test::qpath;
using hqq::test::save_screenshot;
using hqq::test::TempDir;
using hqq::test::wait_job;
using hqq::ui::MainWindow;

using hqq::test::DemoWindow;
using hqq::test::open_demo;

void screenshot_page(MainWindow& w, MainWindow::Page p, const QString& name) {
  w.show_page(p);
  QTest::qWait(250);  // let the throttled charts redraw
  save_screenshot(w, name);
}

// Clicks the middle of bar `index` of the Inspect page's error chart, as a user would.
void click_bar(hqq::ui::InspectPage& page, int index) {
  auto* chart = const_cast<hqq::ui::Chart*>(page.error_chart());
  chart->replot();
  const double value = page.reports()[static_cast<size_t>(index)].rel_error;
  const QPoint at(static_cast<int>(chart->xAxis->coordToPixel(page.bar_key(index))),
                  static_cast<int>(chart->yAxis->coordToPixel(value / 2)));
  QTest::mouseClick(chart, Qt::LeftButton, {}, at);
}

TEST(Workflow, QuantizeInspectFinetuneEvaluateChatOnTheDemoModel) {
  DemoWindow d;
  auto& [tmp, settings, w] = d;
  screenshot_page(w, MainWindow::kModel, "page_model");
  // Before anything is quantized, fine-tuning is offered on the opened model.
  EXPECT_EQ(w.finetune_page()->model(), hqq::ui::demo_model_dir());

  // Quantize to 2-bit g32; the layer table and the Inspect chart fill in as layers finish.
  auto* q = w.quantize_page();
  q->set_preset("2bit-g32");
  EXPECT_TRUE(q->size_text().startsWith("3.000 bits/weight")) << q->size_text();
  const fs::path out = tmp / "demo-2bit-g32";
  q->set_output(qpath(out));
  hqq::ui::EventLoopMonitor monitor(10);
  QElapsedTimer job_clock;
  job_clock.start();
  q->start();
  ASSERT_TRUE(q->runner()->running());
  ASSERT_TRUE(wait_job(q->runner()));
  const double quantize_ms = double(job_clock.elapsed());
  const double quantize_stall = monitor.longest_stall_ms();
  EXPECT_TRUE(q->status_text().startsWith("Done")) << q->status_text();
  EXPECT_EQ(q->layer_rows(), 28);  // 4 layers × 7 projections
  EXPECT_TRUE(fs::exists(out / "config.json"));
  EXPECT_TRUE(fs::exists(out / "hqq_report.json"));
  // The window kept reacting: a job on the UI thread would stall it for the whole job.
  std::printf("[ measure  ] quantization %.0f ms, longest UI stall %.1f ms, %lld ticks\n",
              quantize_ms, quantize_stall, static_cast<long long>(monitor.ticks()));
  EXPECT_LT(quantize_stall, quantize_ms / 2);
  screenshot_page(w, MainWindow::kQuantize, "page_quantize");

  // Inspect: one bar per layer; clicking a bar selects it and draws its histograms.
  auto* inspect = w.inspect_page();
  ASSERT_EQ(inspect->bar_count(), 28);
  w.show_page(MainWindow::kInspect);
  QTest::qWait(50);
  click_bar(*inspect, 5);
  EXPECT_EQ(inspect->selected_layer(), 5);
  const auto* hist = inspect->histogram_chart();
  ASSERT_EQ(hist->graphCount(), 3);  // before / after, and the levels named in the legend
  EXPECT_TRUE(hist->graph(2)->name().startsWith("levels of a typical group"));
  EXPECT_GT(hist->graph(0)->data()->size(), 0);
  EXPECT_GE(hist->itemCount(), 2);  // level lines of a 2-bit group (4 levels, some in range)
  EXPECT_LE(hist->itemCount(), 4);
  EXPECT_EQ(inspect->error_histogram_chart()->graphCount(), 1);
  screenshot_page(w, MainWindow::kInspect, "page_inspect");

  // Fine-tune: the page follows the new quantized model; the loss curve grows step by step.
  auto* ft = w.finetune_page();
  EXPECT_EQ(ft->model(), qpath(out));
  ft->set_data(qpath(hqq::test::sample_data() / "finetune.txt"));
  ft->set_eval(qpath(hqq::test::sample_data() / "eval.txt"));
  const fs::path adapter = tmp / "adapter";
  ft->set_output(qpath(adapter));
  ft->set_steps(6, 2, 64, 3);
  monitor.reset();
  job_clock.restart();
  ft->start();
  ASSERT_TRUE(QTest::qWaitFor([&] { return ft->points() >= 2; }, 60000)) << ft->status_text();
  const int partial = ft->points();
  // Three held-out evaluations (before step 1, steps 3 and 6): minutes on a loaded 2-core machine.
  ASSERT_TRUE(wait_job(ft->runner(), 300000));
  const double train_ms = double(job_clock.elapsed());
  std::printf("[ measure  ] fine-tuning %.0f ms, longest UI stall %.1f ms\n", train_ms,
              monitor.longest_stall_ms());
  EXPECT_LT(monitor.longest_stall_ms(), train_ms / 2);
  EXPECT_TRUE(ft->status_text().startsWith("Done")) << ft->status_text();
  EXPECT_LT(partial, 6);  // seen while running, not only at the end
  EXPECT_EQ(ft->points(), 6);
  EXPECT_EQ(ft->eval_points(), 3);  // before step 1, then steps 3 and 6
  EXPECT_EQ(ft->chart()->graph(2)->data()->begin()->key, 0.0);
  EXPECT_TRUE(fs::exists(adapter / "adapter_config.json"));
  EXPECT_TRUE(fs::exists(adapter / "adapter_model.safetensors"));
  screenshot_page(w, MainWindow::kFinetune, "page_finetune");

  // Evaluate original, quantized and quantized + adapter on the same held-out text.
  auto* ev = w.evaluate_page();
  ASSERT_EQ(ev->model_count(), 3);
  ev->set_text(qpath(hqq::test::sample_data() / "eval.txt"));
  ev->set_limits(128, 4096);
  ev->check_all();
  ev->start();
  ASSERT_TRUE(wait_job(ev->runner()));
  ASSERT_EQ(ev->history().size(), 3) << ev->status_text();
  double original = 0, quantized = 0, quantized_kl = -1;
  for (const auto& r : ev->history()) {
    EXPECT_GT(r.ppl, 1.0);
    EXPECT_GT(r.tokens, 3000);
    if (r.model == hqq::ui::demo_model_dir()) {
      original = r.ppl;
      EXPECT_EQ(r.kl, 0.0);  // the opened model is the KL reference
      EXPECT_EQ(r.top1, 1.0);
    }
    if (r.model == qpath(out) && r.adapter.isEmpty()) quantized = r.ppl, quantized_kl = r.kl;
  }
  EXPECT_GT(quantized, original);  // 2 bits cost something on held-out text
  EXPECT_GT(quantized_kl, 0.01);
  {
    MainWindow later(*settings);  // the history is there at the next start
    ASSERT_EQ(later.evaluate_page()->history().size(), 3);
    EXPECT_EQ(later.evaluate_page()->history()[0].ppl, ev->history()[0].ppl);
    EXPECT_EQ(later.evaluate_page()->history()[1].kl, ev->history()[1].kl);
  }
  screenshot_page(w, MainWindow::kEvaluate, "page_evaluate");

  // Chat: two models answer the same prompt, greedy, side by side.
  auto* chat = w.chat_page();
  ASSERT_EQ(chat->model_count(), 3);
  chat->set_compare(true);
  chat->select_models(0, 1);
  chat->set_sampling(0.0, 12, 1);
  chat->set_prompt("The State of the Union is");
  chat->send();
  ASSERT_TRUE(wait_job(chat->runner()));
  for (int side = 0; side < 2; ++side) {
    EXPECT_TRUE(chat->transcript(side).contains("You: The State of the Union is"));
    const QString reply = chat->transcript(side).section("Model:", 1).trimmed();
    EXPECT_FALSE(reply.isEmpty()) << side;
    EXPECT_TRUE(chat->speed_text(side).contains("tok/s decode")) << chat->speed_text(side);
  }
  screenshot_page(w, MainWindow::kChat, "page_chat");
  EXPECT_GT(w.resources()->samples(), 1);
}

TEST(Workflow, TheBudgetPlannerFillsThePlanWithinTheBudget) {
  DemoWindow d;
  auto& [tmp, settings, w] = d;
  auto* q = w.quantize_page();
  q->set_budget_gb(0.0065);  // 6.5 MB for a 16.8 MB fp32 model whose kept fp32 part is 4.2 MB
  // The KL measure on a few formats and a short probe (every format takes minutes on 2 cores).
  hqq::BudgetOptions o;
  o.candidates = hqq::plan_candidates_from_list("2bit-g64,2bit-tl-g16,3bit-tl-g32-rot,4bit-g64");
  o.probe = {.sequences = 1, .length = 48, .seed = 0};
  q->set_planner_options(o);
  // The user fixed the output matrix at 4 bits: the planner plans the rest around it and the
  // box keeps the user's choice (with room to spare it would keep the matrix or take 8 bits).
  q->set_lm_head_bits(4);
  q->plan_for_budget();
  ASSERT_TRUE(wait_job(q->runner()));
  EXPECT_TRUE(q->status_text().startsWith("Planned 28 layers")) << q->status_text();
  EXPECT_TRUE(q->status_text().contains("predicted KL divergence")) << q->status_text();
  EXPECT_EQ(q->plan_editor()->rows(), 28);  // one override per layer
  EXPECT_TRUE(q->status_text().contains("lm_head 4-bit")) << q->status_text();
  EXPECT_EQ(q->lm_head_bits(), 4);
  EXPECT_EQ(q->plan().lm_head_bits, 4);
  // The live size now describes the planned model, and it fits.
  const QString size = q->size_text();
  const double mb = size.section("model ", 1).section(" MB", 0, 0).toDouble();
  EXPECT_GT(mb, 1.0) << size;  // the 4.2 MB fp32 matrix at 4 bits: about 0.6 MB
  EXPECT_LE(mb, 6.5) << size;
  screenshot_page(w, MainWindow::kQuantize, "page_quantize_budget");
  // 2.3 MB: less than the 4.2 MB fp32 tied embedding, so the planner must quantize that one
  // matrix, and the page's lm_head box and live size follow its choice.
  // Both boxes left to the planner: they stay so and name what it chose.
  q->set_budget_gb(0.0023);
  q->set_lm_head_bits(hqq::ui::QuantizePage::kPlannerChooses);
  q->set_embed_bits(hqq::ui::QuantizePage::kPlannerChooses);
  q->plan_for_budget();
  ASSERT_TRUE(wait_job(q->runner()));
  ASSERT_TRUE(q->status_text().startsWith("Planned 28 layers")) << q->status_text();
  const int quantized_head = q->lm_head_bits();
  EXPECT_NE(quantized_head, 0);
  EXPECT_EQ(q->plan().lm_head_bits, quantized_head);
  EXPECT_TRUE(q->status_text().contains(QString("lm_head %1-bit").arg(quantized_head)))
      << q->status_text();
  auto* box = q->findChild<QComboBox*>("lm_head");
  ASSERT_NE(box, nullptr);
  EXPECT_EQ(box->currentData().toInt(), hqq::ui::QuantizePage::kPlannerChooses);
  EXPECT_EQ(box->currentText(),
            QString("chosen by the budget planner: %1-bit").arg(quantized_head));
  const double small = q->size_text().section("model ", 1).section(" MB", 0, 0).toDouble();
  EXPECT_GT(small, 1.0) << q->size_text();
  EXPECT_LE(small, 2.3) << q->size_text();
}

TEST(Workflow, TwoLevelPresetsAndFormatsWithTheirBitsMetaIncluded) {
  DemoWindow d;
  auto& [tmp, settings, w] = d;
  auto* q = w.quantize_page();
  q->set_preset("2bit-tl-g16");  // 2 + 8/16 + 32/256
  EXPECT_TRUE(q->size_text().startsWith("2.625 bits/weight, meta included")) << q->size_text();
  EXPECT_EQ(q->plan().defaults.scale_bits, 4);
  EXPECT_EQ(q->plan().defaults.super_group, 256);
  q->set_preset("2bit-tl-mix");  // 3bit-tl-g32 (3.375) on v_proj and down_proj
  EXPECT_TRUE(q->size_text().startsWith("2.844 bits/weight")) << q->size_text();
  EXPECT_EQ(q->plan().config_for("model.layers.2.mlp.down_proj")->nbits, 3);
  q->set_preset("2bit-g64");
  EXPECT_TRUE(q->size_text().startsWith("2.500 bits/weight")) << q->size_text();
  EXPECT_FALSE(q->plan().defaults.two_level());
  // An override in a two-level format with rotation, as the budget planner writes them: the
  // editor keeps the format, and the size counts its meta.
  hqq::QuantRule r;
  r.match = "mlp";
  r.nbits = 3;
  r.group_size = 32;
  r.axis = 1;
  r.scale_bits = 4;
  r.zero_bits = 4;
  r.super_group = 256;
  r.rotate = true;
  q->plan_editor()->set_rules({r});
  const auto c = q->plan().config_for("model.layers.0.mlp.up_proj");
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->two_level());
  EXPECT_TRUE(c->rotate);
  EXPECT_EQ(c->nbits, 3);
  EXPECT_FALSE(q->plan().config_for("model.layers.0.self_attn.q_proj")->two_level());
  // 2.5 bits on attention (196,608 weights a layer), 3.375 on the MLP (589,824).
  EXPECT_TRUE(q->size_text().startsWith("3.156 bits/weight")) << q->size_text();
}

TEST(Workflow, ACancelledBudgetPlanSaysCancelledNotFailed) {
  DemoWindow d;
  auto& [tmp, settings, w] = d;
  auto* q = w.quantize_page();
  q->set_budget_gb(0.0065);
  q->plan_for_budget();
  q->runner()->cancel();
  ASSERT_TRUE(wait_job(q->runner()));
  EXPECT_EQ(q->status_text(), "Budget planning cancelled.");
}

TEST(Workflow, PlansRoundTripThroughTheCliFormat) {
  DemoWindow d;
  auto& [tmp, settings, w] = d;
  auto* q = w.quantize_page();
  const fs::path plan = tmp / "plan.json";
  // A plan as a script would write it for `hqq quantize --plan`.
  hqq::test::write_file(plan, R"({"nbits": 4, "group_size": 64, "axis": 1, "optimizer": "improved",
      "overrides": [{"match": "mlp", "nbits": 2, "group_size": 32},
                    {"match": "model.layers.0.*", "skip": true}]})");
  ASSERT_TRUE(q->load_plan_file(qpath(plan))) << q->status_text();
  EXPECT_EQ(q->preset(), "custom");
  EXPECT_EQ(q->plan_editor()->rows(), 2);
  const fs::path saved = tmp / "saved.json";
  ASSERT_TRUE(q->save_plan_file(qpath(saved)));
  const auto a = nlohmann::json::parse(hqq::test::read_file(plan));
  const auto b = nlohmann::json::parse(hqq::test::read_file(saved));
  EXPECT_EQ(hqq::QuantPlan::from_json(a, "a").to_json(), b);
  // A broken file is named and changes nothing.
  hqq::test::write_file(plan, "{\"nbits\": ");
  EXPECT_FALSE(q->load_plan_file(qpath(plan)));
  EXPECT_TRUE(q->status_text().contains("plan.json")) << q->status_text();
  EXPECT_EQ(q->plan_editor()->rows(), 2);
}

TEST(Workflow, StopEndsAStreamingReplyAndTheConversationGoesOn) {
  DemoWindow d;
  auto& [tmp, settings, w] = d;
  auto* chat = w.chat_page();
  chat->set_sampling(0.0, 4000, 0);  // greedy: 400+ tokens without an EOS (checked with hqq chat)
  chat->set_prompt("Tell me about the Union");
  chat->send();
  // Streaming: text arrives while the job still runs.
  ASSERT_TRUE(QTest::qWaitFor(
      [&] { return chat->transcript(0).section("Model:", 1).trimmed().size() > 20; }, 30000));
  EXPECT_TRUE(chat->runner()->running());
  chat->stop();
  ASSERT_TRUE(wait_job(chat->runner()));
  EXPECT_TRUE(chat->speed_text(0).contains("stop: cancelled")) << chat->speed_text(0);
  // The next turn works and sees the conversation so far.
  chat->set_sampling(0.0, 5, 0);
  chat->set_prompt("And then?");
  chat->send();
  ASSERT_TRUE(wait_job(chat->runner()));
  EXPECT_TRUE(chat->transcript(0).contains("You: And then?"));
  EXPECT_TRUE(chat->speed_text(0).contains("stop: length")) << chat->speed_text(0);
}

TEST(Workflow, CancellingAQuantizationLeavesNothingAndTheWindowWorks) {
  DemoWindow d;
  auto& [tmp, settings, w] = d;
  auto* q = w.quantize_page();
  q->set_preset("8bit-g128");
  const fs::path out = tmp / "cancelled";
  q->set_output(qpath(out));
  int layers = 0;
  QObject::connect(q, &hqq::ui::QuantizePage::layer_done, q, [&] {
    if (++layers == 2) q->cancel();
  });
  q->start();
  ASSERT_TRUE(wait_job(q->runner()));
  EXPECT_EQ(q->status_text(), "Cancelled; nothing was written.");
  EXPECT_LT(q->layer_rows(), 28);
  EXPECT_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(tmp.path()))  // no temporary folder left either
    EXPECT_EQ(e.path().filename(), "settings.ini") << e.path();
  // The same page still works afterwards.
  q->set_output(qpath(tmp / "after"));
  q->start();
  ASSERT_TRUE(wait_job(q->runner()));
  EXPECT_TRUE(fs::exists(tmp / "after" / "config.json")) << q->status_text();
}

TEST(Workflow, TrainingPausesResumesAndCancels) {
  DemoWindow d;
  auto& [tmp, settings, w] = d;
  auto* ft = w.finetune_page();
  ft->set_model(hqq::ui::demo_model_dir());
  ft->set_data(qpath(hqq::test::sample_data() / "finetune.txt"));
  ft->set_eval("");
  ft->set_output(qpath(tmp / "adapter"));
  ft->set_steps(500, 1, 32, 0);
  ft->start();
  ASSERT_TRUE(QTest::qWaitFor([&] { return ft->points() >= 2; }, 60000)) << ft->status_text();
  ft->toggle_pause();
  // The step under way may still finish (it can take a second on a loaded machine).
  for (int before = -1; before != ft->points();) {
    before = ft->points();
    QTest::qWait(1000);
  }
  const int paused_at = ft->points();
  QTest::qWait(700);
  EXPECT_EQ(ft->points(), paused_at);  // nothing moves while paused
  EXPECT_TRUE(ft->runner()->running());
  ft->toggle_pause();
  ASSERT_TRUE(QTest::qWaitFor([&] { return ft->points() > paused_at; }, 30000));
  ft->cancel();
  ASSERT_TRUE(wait_job(ft->runner()));
  EXPECT_TRUE(ft->status_text().startsWith("Cancelled")) << ft->status_text();
  EXPECT_LT(ft->points(), 500);
}

TEST(Workflow, ABrokenDatasetLineIsNamedAndTheWindowKeepsWorking) {
  DemoWindow d;
  auto& [tmp, settings, w] = d;
  const fs::path data = tmp / "broken.jsonl";
  hqq::test::write_file(data, "{\"text\": \"one good line\"}\n{\"text\": \"broken\n");
  auto* ft = w.finetune_page();
  ft->set_model(hqq::ui::demo_model_dir());
  ft->set_data(qpath(data));
  ft->set_output(qpath(tmp / "adapter"));
  ft->set_steps(2, 1, 16, 0);
  ft->start();
  ASSERT_TRUE(wait_job(ft->runner()));
  EXPECT_TRUE(ft->status_text().contains("broken.jsonl")) << ft->status_text();
  EXPECT_TRUE(ft->status_text().contains("broken.jsonl:2:")) << ft->status_text();  // line 2
  EXPECT_FALSE(fs::exists(tmp / "adapter" / "adapter_config.json"));
  save_screenshot(w, "finetune_broken_dataset");
  // Fixed data trains.
  hqq::test::write_file(data,
                        "{\"text\": \"one good line of text for the demo model\"}\n"
                        "{\"text\": \"and a second line, long enough for a window\"}\n");
  ft->start();
  ASSERT_TRUE(wait_job(ft->runner()));
  EXPECT_TRUE(ft->status_text().startsWith("Done")) << ft->status_text();
}

TEST(Workflow, AQuantizedFolderOpensWithItsReportInInspect) {
  DemoWindow d;
  auto& [tmp, settings, w] = d;
  auto* q = w.quantize_page();
  q->set_preset("4bit-g64");
  q->set_output(qpath(tmp / "q4"));
  q->start();
  ASSERT_TRUE(wait_job(q->runner()));
  MainWindow w2(*settings);  // a later session opens the result directly
  w2.show();
  w2.model_page()->open_model(qpath(tmp / "q4"));
  ASSERT_TRUE(QTest::qWaitFor([&] { return !w2.model_page()->busy(); }, 10000));
  EXPECT_EQ(w2.inspect_page()->bar_count(), 28);
  EXPECT_TRUE(w2.quantize_page()->size_text().contains("already quantized"));
}

TEST(Workflow, SettingsThemeAndChartExport) {
  TempDir tmp;
  auto settings = hqq::test::temp_settings(tmp);
  {
    MainWindow w(*settings);
    w.show();
    open_demo(w);
    w.quantize_page()->set_preset("3bit-g64");
    w.show_page(MainWindow::kInspect);
    w.set_theme("dark");
    w.close();
  }
  MainWindow w(*settings);
  w.show();
  open_demo(w);
  EXPECT_EQ(w.quantize_page()->plan_editor()->rows(), 0);
  EXPECT_EQ(w.quantize_page()->preset(), "3bit-g64");  // restored from the settings
  EXPECT_EQ(settings->value("window/page").toInt(), int(MainWindow::kInspect));
  // Dark theme: chart backgrounds follow the palette.
  auto* chart = const_cast<hqq::ui::Chart*>(w.finetune_page()->chart());
  QTest::qWait(50);
  chart->replot();
  EXPECT_LT(chart->grab().toImage().pixelColor(5, 5).lightness(), 80);
  screenshot_page(w, MainWindow::kFinetune, "page_finetune_dark");
  EXPECT_TRUE(chart->export_to(qpath(tmp / "chart.png")));
  EXPECT_TRUE(chart->export_to(qpath(tmp / "chart.pdf")));
  EXPECT_GT(fs::file_size(tmp / "chart.png"), 1000u);
  EXPECT_GT(fs::file_size(tmp / "chart.pdf"), 500u);
  w.set_theme("light");
  QTest::qWait(20);  // widgets get the new palette through posted events
  chart->replot();
  EXPECT_GT(chart->grab().toImage().pixelColor(5, 5).lightness(), 180);
}

}  // namespace
