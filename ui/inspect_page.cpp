#include "ui/inspect_page.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSplitter>
#include <QVBoxLayout>
#include <cmath>

#include "ui/chart.h"

namespace hqq::ui {

namespace {
// One colour per projection, the same on every run, so charts can be compared.
const char* const kTypes[] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                              "gate_proj", "up_proj", "down_proj"};

int type_index(const std::string& t) {
  for (int i = 0; i < 7; ++i)
    if (t == kTypes[i]) return i;
  return 7;
}

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
}  // namespace

std::string module_type(const std::string& module) {
  auto dot = module.rfind('.');
  return dot == std::string::npos ? module : module.substr(dot + 1);
}

InspectPage::InspectPage(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  summary_ =
      new QLabel(tr("Quantize a model (or open a quantized one) to see its layers here."), this);
  summary_->setWordWrap(true);
  layout->addWidget(summary_);
  auto* split = new QSplitter(Qt::Vertical, this);
  layout->addWidget(split, 1);

  errors_ = new Chart(split);
  errors_->xAxis->setLabel(tr("layer (file order)"));
  errors_->yAxis->setLabel(tr("relative error ‖W−Ŵ‖/‖W‖"));
  errors_->legend->setVisible(true);
  errors_->legend->setFont(QFont(font().family(), 8));
  errors_->setToolTip(
      tr("Relative Frobenius error of each quantized layer. Click a bar to see "
         "its histogram; right-click to export."));
  connect(errors_, &QCustomPlot::plottableClick, this,
          [this](QCPAbstractPlottable* p, int data_index, QMouseEvent*) {
            auto* bars = qobject_cast<QCPBars*>(p);
            if (!bars || data_index < 0 || data_index >= bars->data()->size()) return;
            select_layer(static_cast<int>((bars->data()->begin() + data_index)->key));
          });

  auto* bottom = new QWidget(split);
  auto* bl = new QVBoxLayout(bottom);
  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel(tr("Layer:"), bottom));
  layer_box_ = new QComboBox(bottom);
  layer_box_->setToolTip(tr("The layer whose weights are shown below"));
  row->addWidget(layer_box_, 1);
  detail_ = new QLabel(bottom);
  row->addWidget(detail_, 2);
  bl->addLayout(row);
  auto* charts = new QHBoxLayout;
  histogram_ = new Chart(bottom);
  histogram_->xAxis->setLabel(tr("weight value"));
  histogram_->yAxis->setLabel(tr("count"));
  histogram_->legend->setVisible(true);
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
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 1);
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
  b->setWidth(0.8);
  b->setSelectable(QCP::stSingleData);
  bars_.push_back({t, b});
  return b;
}

void InspectPage::clear() {
  reports_.clear();
  bars_.clear();
  errors_->clearPlottables();
  histogram_->clearPlottables();
  histogram_->clearItems();
  err_hist_->clearPlottables();
  layer_box_->clear();
  selected_ = -1;
  detail_->clear();
  summary_->setText(tr("Waiting for layers…"));
  errors_->request_replot();
  histogram_->request_replot();
  err_hist_->request_replot();
}

void InspectPage::add_report(const LayerReport& r) {
  const int index = static_cast<int>(reports_.size());
  reports_.push_back(r);
  bars_for(r.name)->addData(index, r.rel_error);
  layer_box_->addItem(QString::fromStdString(r.name));
  double worst = 0, sum = 0;
  for (const auto& x : reports_) worst = std::max(worst, x.rel_error), sum += x.rel_error;
  summary_->setText(tr("%1 layers · mean relative error %2 · worst %3")
                        .arg(reports_.size())
                        .arg(sum / static_cast<double>(reports_.size()), 0, 'f', 4)
                        .arg(worst, 0, 'f', 4));
  errors_->xAxis->setRange(-1, index + 1);
  errors_->yAxis->setRange(0, worst * 1.1);
  errors_->request_replot();
  if (selected_ < 0) select_layer(0);
}

void InspectPage::set_reports(std::vector<LayerReport> reports) {
  clear();
  if (reports.empty()) summary_->setText(tr("This model has no quantization report."));
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
  // Levels: 2^nbits lines, drawn only where they can still be told apart.
  if (r.levels.size() <= 32) {
    QPen level_pen(series_color(2), 1, Qt::DashLine);
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
