#pragma once
// The Resources dock: process RAM (RSS) and, on CUDA builds with a GPU, the allocator's VRAM as a
// live timeline sampled twice a second, with the peak and the UI's longest stall so far.
#include <QDockWidget>
#include <QTimer>

class QLabel;
class QCPGraph;

namespace hqq::ui {

class Chart;
class EventLoopMonitor;

class ResourcesDock : public QDockWidget {
  Q_OBJECT
 public:
  explicit ResourcesDock(QWidget* parent = nullptr);
  void sample();  // one point now (also called by the timer)
  int samples() const;
  QString summary() const;

 private:
  Chart* chart_;
  QCPGraph *ram_, *vram_;
  QLabel* label_;
  QTimer timer_;
  EventLoopMonitor* monitor_;
  qint64 start_ms_ = 0;
};

}  // namespace hqq::ui
