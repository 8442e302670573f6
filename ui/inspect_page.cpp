#include "ui/inspect_page.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QRegularExpression>
#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "ui/chart.h"

namespace hqq::ui {

namespace {
// One colour per projection, the same on every run, so charts can be compared.
constexpr int kTypeCount = 7;
const char* const kTypes[] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                              "gate_proj", "up_proj", "down_proj"};
constexpr int kSlots = kTypeCount + 1;  // bars of one block, then a gap

int type_index(const std::string& t) {
  for (int i = 0; i < kTypeCount; ++i)
    if (t == kTypes[i]) return i;
  return kTypeCount;
}

// Whole-model relative error of HQQ (improved solver) on the demo model, groups 16-128
// (docs/RESULTS.md): what a layer's error is usually like at each bit width.
struct Band {
  int bits;
  double lo, hi;
};
constexpr Band kBands[] = {
    {1, 0.45, 0.60}, {2, 0.25, 0.35}, {3, 0.15, 0.20}, {4, 0.07, 0.09}, {8, 0.005, 0.007}};

// Histogram bin centres over [lo, hi] in n bins.
QVector<double> bin_centres(double lo, double hi, size_t n) {
  QVector<double> x(static_cast<int>(n));
  const double w = (hi - lo) / static_cast<double>(n);
  for (size_t i = 0; i < n; ++i) x[static_cast<int>(i)] = lo + (static_cast<double>(i) + 0.5) * w;
  return x;
}

QVector<double> as_doubles(const std::vector<int64_t>& v) {
  return QVector<double>(v.begin(), v.end());
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}
}  // namespace

std::string module_type(const std::string& module) {
  auto dot = module.rfind('.');
  return dot == std::string::npos ? module : module.substr(dot + 1);
}

int layer_index(const std::string& module) {
  static const QRegularExpression re(QStringLiteral("layers\\.(\\d+)\\."));
  const auto m = re.match(QString::fromStdString(module));
  return m.hasMatch() ? m.captured(1).toInt() : -1;
}

InspectPage::InspectPage(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  summary_ =
      new QLabel(tr("Quantize a model (or open a quantized one) to see its layers here."), this);
  summary_->setWordWrap(true);
  QFont bold = summary_->font();
  bold.setBold(true);
  summary_->setFont(bold);
  layout->addWidget(summary_);
  hint_ = new QLabel(this);
  hint_->setWordWrap(true);
  hint_->hide();
  layout->addWidget(hint_);
  auto* split = new QSplitter(Qt::Vertical, this);
  layout->addWidget(split, 1);

  auto* top = new QSplitter(Qt::Horizontal, split);
  errors_ = new Chart(top);
  errors_->xAxis->setLabel(tr("decoder layer — in each: q k v o gate up down"));
  errors_->yAxis->setLabel(tr("rel. error"));
  errors_->xAxis->setSubTicks(false);
  errors_->xAxis->setTickLength(0, 4);
  // The legend below the plot, in rows: inside it would hide the last bars.
  auto* legend_row = new QCPLayoutGrid;
  errors_->plotLayout()->addElement(1, 0, legend_row);
  legend_row->setMargins(QMargins(5, 0, 5, 5));
  legend_row->addElement(0, 0, errors_->legend);
  errors_->legend->setVisible(true);
  errors_->legend->setFillOrder(QCPLegend::foColumnsFirst);
  errors_->legend->setWrap(5);  // two rows: one row of 9 would force the window wider than 1024
  errors_->legend->setFont(QFont(font().family(), 8));
  errors_->plotLayout()->setRowStretchFactor(1, 0.001);
  errors_->setToolTip(
      tr("Relative Frobenius error of each quantized layer, grouped by decoder layer. Click a "
         "bar to see its histogram; right-click to export."));
  connect(errors_, &QCustomPlot::plottableClick, this,
          [this](QCPAbstractPlottable* p, int data_index, QMouseEvent*) {
            auto* bars = qobject_cast<QCPBars*>(p);
            if (!bars || data_index < 0 || data_index >= bars->data()->size()) return;
            const double key = (bars->data()->begin() + data_index)->key;
            for (int i = 0; i < static_cast<int>(reports_.size()); ++i)
              if (bar_key(i) == key) return select_layer(i);
          });

  // Layer × projection: with hundreds of layers the bars get thin, the map stays readable.
  heat_ = new Chart(top);
  heat_->xAxis->setLabel(tr("decoder layer"));
  heatmap_ = new QCPColorMap(heat_->xAxis, heat_->yAxis);
  heatmap_->setInterpolate(false);
  heatmap_->setTightBoundary(false);
  auto* scale = new QCPColorScale(heat_);
  heat_->plotLayout()->addElement(0, 1, scale);
  scale->setType(QCPAxis::atRight);
  scale->axis()->setLabel(tr("rel. error"));
  scale->axis()->setTickLabelColor(palette().color(QPalette::WindowText));
  scale->axis()->setLabelColor(palette().color(QPalette::WindowText));
  heatmap_->setColorScale(scale);
  QCPColorGradient g(QCPColorGradient::gpThermal);
  g.setNanHandling(QCPColorGradient::nhTransparent);
  heatmap_->setGradient(g);
  auto* margins = new QCPMarginGroup(heat_);
  heat_->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  scale->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  auto types = QSharedPointer<QCPAxisTickerText>::create();
  for (int i = 0; i < kTypeCount; ++i) types->addTick(i, QString(kTypes[i]).remove("_proj"));
  heat_->yAxis->setTicker(types);
  heat_->yAxis->setRangeReversed(true);
  heat_->yAxis->setRange(-0.5, kTypeCount - 0.5);
  heat_->setToolTip(tr("Relative error per decoder layer (x) and projection (y); click a cell"));
  heat_->setInteractions(QCP::iRangeZoom);
  connect(heat_, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
    const int block = static_cast<int>(std::lround(heat_->xAxis->pixelToCoord(e->pos().x())));
    const int type = static_cast<int>(std::lround(heat_->yAxis->pixelToCoord(e->pos().y())));
    for (int i = 0; i < static_cast<int>(reports_.size()); ++i) {
      const auto& r = reports_[static_cast<size_t>(i)];
      if (layer_index(r.name) == block && type_index(module_type(r.name)) == type)
        return select_layer(i);
    }
  });
  top->addWidget(errors_);
  top->addWidget(heat_);
  top->setStretchFactor(0, 3);
  top->setStretchFactor(1, 2);
  top->setSizes({640, 360});

  auto* bottom = new QWidget(split);
  auto* bl = new QVBoxLayout(bottom);
  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel(tr("Layer:"), bottom));
  layer_box_ = new QComboBox(bottom);
  layer_box_->setToolTip(tr("The layer whose weights are shown below"));
  layer_box_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  layer_box_->setMinimumContentsLength(28);
  row->addWidget(layer_box_, 1);
  detail_ = new QLabel(bottom);
  detail_->setWordWrap(true);
  row->addWidget(detail_, 2);
  bl->addLayout(row);
  auto* charts = new QHBoxLayout;
  histogram_ = new Chart(bottom);
  histogram_->xAxis->setLabel(tr("weight value"));
  histogram_->yAxis->setLabel(tr("count"));
  // Below the plot, as on the error chart: inside, it covers the middle of the distribution.
  auto* hist_legend = new QCPLayoutGrid;
  histogram_->plotLayout()->addElement(1, 0, hist_legend);
  hist_legend->setMargins(QMargins(5, 0, 5, 5));
  hist_legend->addElement(0, 0, histogram_->legend);
  histogram_->legend->setVisible(true);
  histogram_->legend->setFillOrder(QCPLegend::foColumnsFirst);
  histogram_->legend->setWrap(3);
  histogram_->legend->setFont(QFont(font().family(), 8));
  histogram_->plotLayout()->setRowStretchFactor(1, 0.001);
  histogram_->setToolTip(
      tr("Weights of the selected layer before (filled) and after "
         "quantization; dashed lines: the levels of a typical group"));
  err_hist_ = new Chart(bottom);
  err_hist_->xAxis->setLabel(tr("error W − Ŵ"));
  err_hist_->yAxis->setLabel(tr("count"));
  err_hist_->setToolTip(tr("Distribution of the quantization error of the selected layer"));
  charts->addWidget(histogram_, 3);
  charts->addWidget(err_hist_, 2);
  bl->addLayout(charts, 1);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  connect(layer_box_, &QComboBox::currentIndexChanged, this, [this](int i) {
    if (i != selected_) select_layer(i);
  });
}

QCPBars* InspectPage::bars_for(const std::string& module) {
  const std::string t = module_type(module);
  for (auto& [name, b] : bars_)
    if (name == t) return b;
  auto* b = new QCPBars(errors_->xAxis, errors_->yAxis);
  b->setName(QString::fromStdString(t));
  const QColor c = series_color(type_index(t));
  b->setBrush(c);
  b->setPen(QPen(c.darker(120)));
  b->setWidth(0.85);
  b->setSelectable(QCP::stSingleData);
  bars_.push_back({t, b});
  return b;
}

double InspectPage::bar_key(int index) const {
  const auto& r = reports_[static_cast<size_t>(index)];
  const int block = layer_index(r.name);
  return static_cast<double>(block * kSlots + type_index(module_type(r.name)));
}

void InspectPage::clear() {
  reports_.clear();
  bars_.clear();
  errors_->clearPlottables();
  errors_->clearItems();
  histogram_->clearPlottables();
  histogram_->clearItems();
  err_hist_->clearPlottables();
  heatmap_->data()->setSize(0, 0);
  layer_box_->clear();
  selected_ = -1;
  state_ = RunState::None;
  expected_ = 0;
  detail_->clear();
  hint_->hide();
  summary_->setText(tr("Waiting for layers…"));
  errors_->request_replot();
  heat_->request_replot();
  histogram_->request_replot();
  err_hist_->request_replot();
}

void InspectPage::start_run(int total) {
  clear();
  state_ = RunState::Running;
  expected_ = total;
  summary_->setText(tr("Quantizing %1 layers…").arg(total));
}

void InspectPage::finish_run(bool complete, bool cancelled, int done, int total) {
  state_ = complete ? RunState::Complete : cancelled ? RunState::Cancelled : RunState::Failed;
  expected_ = total;
  (void)done;  // the reports received are what the labels count
  update_summary();
}

QString InspectPage::summary_text() const {
  return summary_->text();
}

QString InspectPage::hint_text() const {
  return hint_->isHidden() ? QString() : hint_->text();
}

void InspectPage::add_report(const LayerReport& r) {
  const int index = static_cast<int>(reports_.size());
  reports_.push_back(r);
  bars_for(r.name)->addData(bar_key(index), r.rel_error);
  layer_box_->addItem(QString::fromStdString(r.name));
  layer_box_->setItemData(index, QString::fromStdString(r.name), Qt::ToolTipRole);
  update_summary();
  if (selected_ < 0) select_layer(0);
}

void InspectPage::update_summary() {
  const size_t n = reports_.size();
  if (n == 0) {
    if (state_ == RunState::Cancelled || state_ == RunState::Failed)
      summary_->setText(state_ == RunState::Cancelled
                            ? tr("Cancelled before the first layer finished.")
                            : tr("The quantization failed before the first layer finished."));
    return;
  }
  double worst = 0, sum = 0;
  int lo_block = 1 << 30, hi_block = -1, bits = reports_[0].nbits;
  std::vector<double> errors;
  for (const auto& x : reports_) {
    worst = std::max(worst, x.rel_error);
    sum += x.rel_error;
    errors.push_back(x.rel_error);
    lo_block = std::min(lo_block, layer_index(x.name));
    hi_block = std::max(hi_block, layer_index(x.name));
    if (x.nbits != bits) bits = 0;  // mixed
  }
  const double mean = sum / static_cast<double>(n);
  const QString figures =
      tr("mean relative error %1 · worst %2").arg(mean, 0, 'f', 4).arg(worst, 0, 'f', 4);
  const int total = std::max(expected_, static_cast<int>(n));
  switch (state_) {
    case RunState::Running:
      summary_->setText(tr("%1 of %2 layers so far · %3").arg(n).arg(total).arg(figures));
      break;
    case RunState::Cancelled:
      summary_->setText(tr("Cancelled after %1 of %2 layers — the figures cover only those: %3")
                            .arg(n)
                            .arg(total)
                            .arg(figures));
      break;
    case RunState::Failed:
      summary_->setText(tr("Failed after %1 of %2 layers — the figures cover only those: %3")
                            .arg(n)
                            .arg(total)
                            .arg(figures));
      break;
    default:
      summary_->setText(tr("%1 layers · %2").arg(n).arg(figures));
  }

  // What the numbers mean: the scale, this model's spread, and what is usual at this width.
  QString hint = tr("Relative error: 0 is exact, 0.1 means the error is a tenth of the weights' "
                    "size. Half of these layers lie between %1 and %2.")
                     .arg(quantile(errors, 0.25), 0, 'f', 3)
                     .arg(quantile(errors, 0.75), 0, 'f', 3);
  const Band* band = nullptr;
  for (const Band& b : kBands)
    if (b.bits == bits) band = &b;
  if (band)
    hint += tr(" Typical at %1 bits (HQQ on the demo model, whole-model figures): %2–%3.")
                .arg(bits)
                .arg(band->lo, 0, 'g', 2)
                .arg(band->hi, 0, 'g', 2);
  hint_->setText(hint);
  hint_->show();

  // The mean and the typical band, named in the legend, across the whole x range.
  const double x0 = lo_block * kSlots - 1.0, x1 = hi_block * kSlots + kTypeCount;
  errors_->clearItems();
  for (int i = errors_->graphCount() - 1; i >= 0; --i) errors_->removeGraph(i);
  if (band) {
    auto* lo = errors_->addGraph();
    lo->setData({x0, x1}, {band->lo, band->lo});
    lo->setPen(Qt::NoPen);
    lo->removeFromLegend();
    auto* hi = errors_->addGraph();
    hi->setData({x0, x1}, {band->hi, band->hi});
    hi->setPen(Qt::NoPen);
    QColor c = palette().color(QPalette::WindowText);
    c.setAlpha(35);
    hi->setBrush(c);
    hi->setChannelFillGraph(lo);
    hi->setName(tr("typical at %1 bits").arg(bits));
  }
  auto* m = errors_->addGraph();
  m->setData({x0, x1}, {mean, mean});
  m->setPen(QPen(palette().color(QPalette::WindowText), 1, Qt::DashLine));
  m->setName(tr("mean %1").arg(mean, 0, 'f', 3));
  for (auto* g : {m}) g->setSelectable(QCP::stNone);

  // Block labels: every block while they fit, fewer beyond (a 200-layer model has 30+ blocks).
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  const int blocks = hi_block - lo_block + 1;
  const int every = std::max(1, (blocks + 15) / 16);
  for (int b = lo_block; b <= hi_block; ++b)
    if ((b - lo_block) % every == 0) ticker->addTick(b * kSlots + 3, QString::number(b));
  errors_->xAxis->setTicker(ticker);
  errors_->xAxis->setRange(x0, x1);
  errors_->yAxis->setRange(0, std::max(worst, band ? band->hi : 0.0) * 1.1);
  errors_->request_replot();
  redraw_heatmap();
}

void InspectPage::redraw_heatmap() {
  int lo = 1 << 30, hi = -1;
  for (const auto& r : reports_) {
    const int b = layer_index(r.name);
    if (b < 0) continue;
    lo = std::min(lo, b), hi = std::max(hi, b);
  }
  if (hi < 0) return;
  const int nx = hi - lo + 1;
  auto* d = heatmap_->data();
  d->setSize(nx, kTypeCount);
  d->setRange(QCPRange(lo, hi), QCPRange(0, kTypeCount - 1));
  d->fill(std::nan(""));
  double worst = 0, best = 1e300;
  for (const auto& r : reports_) {
    const int b = layer_index(r.name), t = type_index(module_type(r.name));
    if (b < 0 || t >= kTypeCount) continue;
    d->setCell(b - lo, t, r.rel_error);
    worst = std::max(worst, r.rel_error);
    best = std::min(best, r.rel_error);
  }
  // The colours span this model's own range, so that differences between layers show; the
  // scale beside the map gives the numbers.
  heatmap_->setDataRange(best < worst ? QCPRange(best, worst) : QCPRange(0, std::max(worst, 1e-6)));
  heat_->xAxis->setRange(lo - 0.5, hi + 0.5);
  heat_->request_replot();
}

void InspectPage::set_reports(std::vector<LayerReport> reports) {
  clear();
  if (reports.empty()) summary_->setText(tr("This model has no quantization report."));
  state_ = RunState::Complete;
  expected_ = static_cast<int>(reports.size());
  for (const auto& r : reports) add_report(r);
}

int InspectPage::bar_count() const {
  int n = 0;
  for (const auto& [name, b] : bars_) n += b->data()->size();
  return n;
}

void InspectPage::select_layer(int index) {
  if (index < 0 || index >= static_cast<int>(reports_.size())) return;
  selected_ = index;
  if (layer_box_->currentIndex() != index) layer_box_->setCurrentIndex(index);
  const LayerReport& r = reports_[static_cast<size_t>(index)];
  layer_box_->setToolTip(QString::fromStdString(r.name));
  detail_->setText(tr("%1×%2 · %3-bit g%4 axis %5 · rel. error %6 · %7 s")
                       .arg(r.shape.size() > 0 ? r.shape[0] : 0)
                       .arg(r.shape.size() > 1 ? r.shape[1] : 0)
                       .arg(r.nbits)
                       .arg(r.group_size)
                       .arg(r.axis)
                       .arg(r.rel_error, 0, 'f', 4)
                       .arg(r.seconds, 0, 'f', 2));
  draw_histograms();
}

void InspectPage::draw_histograms() {
  const LayerReport& r = reports_[static_cast<size_t>(selected_)];
  histogram_->clearPlottables();
  histogram_->clearItems();
  const auto x = bin_centres(r.hist_min, r.hist_max, r.hist_original.size());
  auto* orig = histogram_->addGraph();
  orig->setName(tr("original"));
  orig->setLineStyle(QCPGraph::lsStepCenter);
  QColor c0 = series_color(0);
  orig->setPen(QPen(c0));
  c0.setAlpha(70);
  orig->setBrush(c0);
  orig->setData(x, as_doubles(r.hist_original));
  auto* deq = histogram_->addGraph();
  deq->setName(tr("dequantized"));
  deq->setLineStyle(QCPGraph::lsStepCenter);
  deq->setPen(QPen(series_color(3), 1.5));
  deq->setData(x, as_doubles(r.hist_dequantized));
  // Levels: 2^nbits lines, drawn only where they can still be told apart. Lines are items, which
  // a legend does not list: an empty graph with their pen names them.
  if (r.levels.size() <= 32) {
    QPen level_pen(series_color(2), 1, Qt::DashLine);
    auto* named = histogram_->addGraph();
    named->setName(tr("levels of a typical group (%1)").arg(r.levels.size()));
    named->setPen(level_pen);
    named->setSelectable(QCP::stNone);
    for (double v : r.levels) {
      if (v < r.hist_min || v > r.hist_max) continue;
      auto* line = new QCPItemStraightLine(histogram_);
      line->point1->setCoords(v, 0);
      line->point2->setCoords(v, 1);
      line->setPen(level_pen);
    }
  }
  histogram_->rescaleAxes();
  histogram_->request_replot();

  err_hist_->clearPlottables();
  if (!r.hist_error.empty()) {
    auto* e = err_hist_->addGraph();
    e->setLineStyle(QCPGraph::lsStepCenter);
    QColor c = series_color(4);
    e->setPen(QPen(c));
    c.setAlpha(80);
    e->setBrush(c);
    e->setData(bin_centres(-r.err_max, r.err_max, r.hist_error.size()), as_doubles(r.hist_error));
    err_hist_->rescaleAxes();
  }
  err_hist_->request_replot();
}

}  // namespace hqq::ui
