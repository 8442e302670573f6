#pragma once
// A QCustomPlot that suits live jobs: replot requests are coalesced (at most ~10 redraws a
// second, queued, never from inside a job's callback), colours follow the application palette
// (light or dark), and a context menu exports the chart as PNG or PDF.
#include <qcustomplot.h>
#include <QTimer>

namespace hqq::ui {

class Chart : public QCustomPlot {
  Q_OBJECT
 public:
  explicit Chart(QWidget* parent = nullptr);

  void request_replot();  // coalesced; cheap to call per data point
  int replots() const { return replots_; }
  // Saves as PNG or PDF by the extension; false (and nothing written) on failure.
  bool export_to(const QString& path);
  void apply_theme();  // called on palette changes; public for tests

 protected:
  void changeEvent(QEvent* e) override;
  void contextMenuEvent(QContextMenuEvent* e) override;

 private:
  QTimer throttle_;
  int replots_ = 0;
};

// Distinct colours that read on light and dark backgrounds.
QColor series_color(int i);

}  // namespace hqq::ui
