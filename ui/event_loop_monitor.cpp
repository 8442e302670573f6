#include "ui/event_loop_monitor.h"

namespace hqq::ui {

EventLoopMonitor::EventLoopMonitor(int interval_ms, QObject* parent)
    : QObject(parent), interval_ms_(interval_ms) {
  timer_.setTimerType(Qt::PreciseTimer);
  timer_.setInterval(interval_ms);
  connect(&timer_, &QTimer::timeout, this, [this] {
    const qint64 now = clock_.elapsed();
    longest_ms_ = std::max(longest_ms_, static_cast<double>(now - last_ms_ - interval_ms_));
    last_ms_ = now;
    ++ticks_;
  });
  reset();
  timer_.start();
}

void EventLoopMonitor::reset() {
  clock_.restart();
  last_ms_ = 0;
  longest_ms_ = 0;
  ticks_ = 0;
}

}  // namespace hqq::ui
