// The window as a new user meets it, at the smallest supported size (1024×700) and on a full-HD
// screen: every form field keeps at least its size hint (forms scroll instead of squeezing), the
// page list shows whole names, the docks give way to the page, long names elide in the middle.
// Each page is saved as a screenshot at both sizes (build/<preset>/screenshots/layout_*.png).
#include <gtest/gtest.h>

#include <QAbstractSpinBox>
#include <QCheckBox>
#include <QComboBox>
#include <QDockWidget>
#include <QLineEdit>
#include <QListWidget>
#include <QPainter>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QStackedWidget>
#include <QStyleOptionFocusRect>

#include "core/quant/plan_size.h"
#include "tests/gui/gui_support.h"
#include "ui/chart.h"
#include "ui/chat_page.h"
#include "ui/evaluate_page.h"
#include "ui/finetune_page.h"
#include "ui/inspect_page.h"
#include "ui/model_card_widget.h"
#include "ui/path_edit.h"
#include "ui/quantize_page.h"
#include "ui/resources_dock.h"
#include "ui/workspace.h"

namespace {

using hqq::test::DemoWindow;
using hqq::test::qpath;
using hqq::test::save_screenshot;
using hqq::ui::MainWindow;

const char* const kPageNames[] = {"model", "quantize", "inspect", "finetune", "evaluate", "chat"};

bool is_form_field(const QWidget* w) {
  return qobject_cast<const QLineEdit*>(w) || qobject_cast<const QComboBox*>(w) ||
         qobject_cast<const QAbstractSpinBox*>(w) || qobject_cast<const QCheckBox*>(w) ||
         qobject_cast<const QPushButton*>(w);
}

// Every visible form field of `page` at its size hint or more (the line edits inside spin and
// combo boxes are theirs, not fields of their own).
void expect_fields_keep_their_size(QWidget* page, const QString& where) {
  int checked = 0;
  for (QWidget* w : page->findChildren<QWidget*>()) {
    if (!is_form_field(w) || !w->isVisibleTo(page)) continue;
    if (qobject_cast<QAbstractSpinBox*>(w->parentWidget()) ||
        qobject_cast<QComboBox*>(w->parentWidget()))
      continue;
    if (w->parentWidget() && w->parentWidget()->inherits("QCalendarWidget")) continue;
    const QSize hint = w->sizeHint();
    EXPECT_GE(w->height(), hint.height())
        << where.toStdString() << ": " << w->metaObject()->className() << " '"
        << w->objectName().toStdString() << w->toolTip().left(40).toStdString() << "' "
        << w->width() << "×" << w->height() << " < hint " << hint.width() << "×" << hint.height();
    EXPECT_GE(w->width(), hint.width())
        << where.toStdString() << ": " << w->metaObject()->className() << " '"
        << w->toolTip().left(40).toStdString() << "' " << w->width() << "×" << w->height()
        << " < hint " << hint.width() << "×" << hint.height();
    ++checked;
  }
  EXPECT_GT(checked, 0) << where.toStdString();
}

class Layout : public ::testing::TestWithParam<QSize> {};

TEST_P(Layout, FieldsKeepTheirSizeAndEveryPageIsSaved) {
  const QSize size = GetParam();
  DemoWindow d(size);
  auto& w = d.w;
  QTest::qWait(100);
  ASSERT_EQ(w.size(), size);
  const QString tag = QString("%1x%2").arg(size.width()).arg(size.height());

  // The page list shows whole names, without a scroll bar.
  auto* nav = w.findChild<QListWidget*>();
  ASSERT_NE(nav, nullptr);
  EXPECT_FALSE(nav->horizontalScrollBar()->isVisible());
  for (int i = 0; i < nav->count(); ++i) {
    const QRect r = nav->visualItemRect(nav->item(i));
    const int text = nav->fontMetrics().horizontalAdvance(nav->item(i)->text());
    EXPECT_GE(r.width(), text + nav->iconSize().width()) << nav->item(i)->text().toStdString();
    EXPECT_LE(r.right(), nav->viewport()->width()) << nav->item(i)->text().toStdString();
  }
  // The docks give way: the page keeps most of the height.
  auto* pages = w.findChild<QStackedWidget*>();
  ASSERT_NE(pages, nullptr);
  EXPECT_LE(w.resources()->height(), std::max(110, w.height() / 5) + 2) << tag.toStdString();
  EXPECT_GE(pages->height(), w.height() / 2) << tag.toStdString();

  // With results in the pages: a filled legend or table must not widen the window either.
  auto* q = w.quantize_page();
  q->set_preset("2bit-g32");
  q->set_output(qpath(d.tmp / "q2"));
  q->start();
  ASSERT_TRUE(hqq::test::wait_job(q->runner()));
  for (int p = 0; p < MainWindow::kPageCount; ++p) {
    w.show_page(static_cast<MainWindow::Page>(p));
    QTest::qWait(250);  // the throttled charts redraw
    expect_fields_keep_their_size(w.page(static_cast<MainWindow::Page>(p)),
                                  tag + " " + kPageNames[p]);
    // No page forces the window to grow beyond the screen it was given.
    EXPECT_EQ(w.size(), size) << kPageNames[p];
    EXPECT_LE(w.page(static_cast<MainWindow::Page>(p))->minimumSizeHint().width(), pages->width())
        << kPageNames[p];
    save_screenshot(w, QString("layout_%1_%2").arg(kPageNames[p], tag));
  }
  // Path fields are wide enough to read at the small size too.
  for (auto* e : w.findChildren<hqq::ui::PathEdit*>())
    if (e->isVisibleTo(&w)) {
      EXPECT_GE(e->width(), e->fontMetrics().horizontalAdvance('x') * 24)
          << e->text().toStdString();
    }
}

INSTANTIATE_TEST_SUITE_P(Sizes, Layout, ::testing::Values(QSize(1024, 700), QSize(1920, 1080)));

TEST(Layout, FormsScrollInsteadOfSqueezing) {
  DemoWindow d(QSize(1024, 700));
  auto& w = d.w;
  w.show_page(MainWindow::kQuantize);
  QTest::qWait(50);
  QScrollArea* area = w.quantize_page()->form_area();
  ASSERT_NE(area, nullptr);
  // The Quantize form is taller than the page at 700 px: it scrolls, at full height.
  EXPECT_GE(area->widget()->height(), area->widget()->minimumSizeHint().height());
  EXPECT_TRUE(area->verticalScrollBar()->isVisible() ||
              area->widget()->height() <= area->viewport()->height());
  w.show_page(MainWindow::kFinetune);
  QTest::qWait(50);
  QScrollArea* ft = w.finetune_page()->form_area();
  EXPECT_GE(ft->widget()->height(), ft->widget()->minimumSizeHint().height());
}

TEST(Layout, LongPathsAndLayerNamesElideInTheMiddleWithTheFullTextOnHover) {
  DemoWindow d(QSize(1024, 700));
  auto& w = d.w;
  auto* q = w.quantize_page();
  const QString long_path =
      "/home/someone/a/rather/deep/folder/of/models/that/goes/on/and/on/"
      "demo-model-hqq-4bit-g64-final";
  q->set_output(long_path);
  w.show_page(MainWindow::kQuantize);
  QTest::qWait(50);
  auto* out = q->findChild<hqq::ui::PathEdit*>("output");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->toolTip(), long_path);
  const QString shown = out->shown_text();
  EXPECT_TRUE(shown.contains(QChar(0x2026))) << shown.toStdString();  // "…"
  EXPECT_TRUE(shown.startsWith("/home")) << shown.toStdString();
  EXPECT_TRUE(shown.endsWith("final")) << shown.toStdString();
  // Layer names in the table: elided in the middle, the full name in the tooltip.
  q->set_preset("4bit-g64");
  q->set_output(qpath(d.tmp / "q4"));
  q->start();
  ASSERT_TRUE(hqq::test::wait_job(q->runner()));
  ASSERT_EQ(q->layer_rows(), 28);
  EXPECT_EQ(q->layer_name(27), "model.layers.3.mlp.down_proj");
  auto* table = q->findChild<QTableWidget*>();
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->textElideMode(), Qt::ElideMiddle);
  EXPECT_EQ(table->item(27, 0)->text(), "3.mlp.down_proj");  // "model.layers." is on every row
  EXPECT_EQ(table->item(27, 0)->toolTip(), "model.layers.3.mlp.down_proj");
  save_screenshot(w, "layout_quantize_done_1024x700");
}

TEST(Sizes, TheCardAndTheQuantizePageSayWhatStaysInFullPrecision) {
  DemoWindow d;
  auto& w = d.w;
  const QString card = w.model_page()->card()->field("Full precision");
  EXPECT_TRUE(card.startsWith("embeddings, lm_head, norms")) << card.toStdString();
  EXPECT_TRUE(card.contains("% of the 4bit-g64 size")) << card.toStdString();
  auto* q = w.quantize_page();
  q->set_preset("4bit-g64");
  EXPECT_TRUE(q->kept_text().startsWith("Kept in full precision: embeddings, lm_head, norms"))
      << q->kept_text().toStdString();
  // The demo model: 4.2 M parameters of which the embeddings and lm_head are a large part.
  const int pct = q->kept_text().section("MB, ", 1).section("%", 0, 0).toInt();
  EXPECT_GT(pct, 20) << q->kept_text().toStdString();
  EXPECT_LT(pct, 100) << q->kept_text().toStdString();
  // The budget starts at the 4-bit size, not at a fraction of a megabyte.
  hqq::QuantPlan four;
  four.defaults.nbits = 4;
  four.defaults.group_size = 64;
  const double expect = hqq::plan_size(*w.workspace().model_info(), four).total_bytes / 1e9;
  EXPECT_NEAR(q->budget_gb(), expect, 1e-4);
  EXPECT_GE(q->budget_gb(), 0.0055);  // the old default, 0.3 × the weights, was 0.0050
}

TEST(Charts, InspectLegendOutsideGroupedBarsHeatmapAndHint) {
  DemoWindow d;
  auto& w = d.w;
  auto* q = w.quantize_page();
  q->set_preset("2bit-g32");
  q->set_output(qpath(d.tmp / "q2"));
  q->start();
  ASSERT_TRUE(hqq::test::wait_job(q->runner()));
  auto* inspect = w.inspect_page();
  ASSERT_EQ(inspect->reports().size(), 28u);
  const auto* chart = inspect->error_chart();
  // The legend is a row of the plot layout, not inside the axis rect where it hid bars.
  EXPECT_NE(chart->legend->layout(), chart->axisRect()->insetLayout());
  // Bars grouped by block: layer 1's q_proj after layer 0's down_proj, with a gap.
  int l0_down = -1, l1_q = -1;
  for (int i = 0; i < 28; ++i) {
    if (inspect->reports()[size_t(i)].name == "model.layers.0.mlp.down_proj") l0_down = i;
    if (inspect->reports()[size_t(i)].name == "model.layers.1.self_attn.q_proj") l1_q = i;
  }
  ASSERT_GE(l0_down, 0);
  ASSERT_GE(l1_q, 0);
  EXPECT_EQ(inspect->bar_key(l1_q) - inspect->bar_key(l0_down), 2.0);
  // The x axis names the blocks.
  auto ticker = chart->xAxis->ticker().dynamicCast<QCPAxisTickerText>();
  ASSERT_FALSE(ticker.isNull());
  EXPECT_EQ(ticker->ticks().size(), 4);
  EXPECT_EQ(ticker->ticks().first(), "0");
  // The mean and the usual band are named in the legend.
  QStringList names;
  for (int i = 0; i < chart->legend->itemCount(); ++i)
    if (auto* item = qobject_cast<QCPPlottableLegendItem*>(chart->legend->item(i)))
      names << item->plottable()->name();
  EXPECT_TRUE(names.contains("typical at 2 bits")) << names.join(", ").toStdString();
  EXPECT_TRUE(std::any_of(names.begin(), names.end(), [](const QString& n) {
    return n.startsWith("mean ");
  })) << names.join(", ").toStdString();
  EXPECT_TRUE(inspect->hint_text().contains("Typical at 2 bits"))
      << inspect->hint_text().toStdString();
  // Layer × projection heatmap.
  EXPECT_EQ(inspect->heatmap()->data()->keySize(), 4);
  EXPECT_EQ(inspect->heatmap()->data()->valueSize(), 7);
  EXPECT_DOUBLE_EQ(inspect->heatmap()->data()->cell(3, 6), inspect->reports()[27].rel_error);
  w.show_page(MainWindow::kInspect);
  QTest::qWait(300);
  save_screenshot(w, "page_inspect_heatmap");
}

TEST(Charts, EvaluateEmptyChartHasNoTinyAxis) {
  DemoWindow d;
  d.w.evaluate_page()->clear_history();
  auto* chart = d.w.evaluate_page()->findChild<hqq::ui::Chart*>();
  ASSERT_NE(chart, nullptr);
  EXPECT_FALSE(chart->yAxis->tickLabels());
  EXPECT_GE(chart->yAxis->range().upper, 1.0);
}

TEST(Charts, FocusRingIsVisibleInTheDarkTheme) {
  DemoWindow d;
  auto& w = d.w;
  w.set_theme("dark");
  QTest::qWait(20);
  // The keyboard focus frame as the style draws it for a button, on the dark window colour.
  const QPalette pal = QApplication::palette();
  QImage img(60, 30, QImage::Format_RGB32);
  img.fill(pal.color(QPalette::Window));
  {
    QPainter p(&img);
    QStyleOptionFocusRect opt;
    opt.rect = QRect(4, 4, 52, 22);
    opt.palette = pal;
    opt.state = QStyle::State_HasFocus | QStyle::State_KeyboardFocusChange;
    QApplication::style()->drawPrimitive(QStyle::PE_FrameFocusRect, &opt, &p);
  }
  // Fusion's own ring (its highlight at 30 % opacity) differs from the grey by ~15 levels.
  const int bg = pal.color(QPalette::Window).lightness();
  int contrast = 0;
  for (int y = 0; y < img.height(); ++y)
    for (int x = 0; x < img.width(); ++x)
      contrast = std::max(contrast, std::abs(img.pixelColor(x, y).lightness() - bg));
  EXPECT_GT(contrast, 80);
  w.show_page(MainWindow::kQuantize);
  QTest::qWait(100);
  save_screenshot(w, "page_quantize_dark");
  w.set_theme("light");
}

}  // namespace
