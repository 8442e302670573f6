#pragma once
// Measures how responsive the UI thread is: a timer that should fire every `interval` ms records
// how late each tick came. The longest delay is the longest time the window could not repaint
// or react to input ("stall"), the figure that says whether a job blocks the window.
#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

namespace hqq::ui {

class EventLoopMonitor : public QObject {
  Q_OBJECT
 public:
  explicit EventLoopMonitor(int interval_ms = 10, QObject* parent = nullptr);
  void reset();
  double longest_stall_ms() const { return longest_ms_; }
  qint64 ticks() const { return ticks_; }

 private:
  QTimer timer_;
  QElapsedTimer clock_;
  qint64 last_ms_ = 0;
  double longest_ms_ = 0;
  qint64 ticks_ = 0;
  int interval_ms_;
};

}  // namespace hqq::ui
