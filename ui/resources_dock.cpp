#include "ui/resources_dock.h"

#include <QDateTime>
#include <QLabel>
#include <QVBoxLayout>

#include "core/base/device.h"
#include "core/base/device_memory.h"
#include "core/base/memory_stats.h"
#include "ui/chart.h"
#include "ui/event_loop_monitor.h"
#include "ui/model_card_widget.h"

namespace hqq::ui {

ResourcesDock::ResourcesDock(QWidget* parent) : QDockWidget(tr("Resources"), parent) {
  setObjectName("resources_dock");
  auto* w = new QWidget(this);
  auto* v = new QVBoxLayout(w);
  label_ = new QLabel(w);
  label_->setWordWrap(true);
  chart_ = new Chart(w);
  chart_->setMinimumHeight(70);  // the dock gives way to the page on a small window
  chart_->xAxis->setLabel(tr("seconds"));
  chart_->yAxis->setLabel(tr("GB"));
  chart_->yAxis->ticker()->setTickCount(3);  // readable when the dock is short
  chart_->legend->setVisible(true);
  ram_ = chart_->addGraph();
  ram_->setName(tr("RAM (RSS)"));
  ram_->setPen(QPen(series_color(0), 1.5));
  vram_ = chart_->addGraph();
  vram_->setName(tr("VRAM"));
  vram_->setPen(QPen(series_color(1), 1.5));
  v->addWidget(label_);
  v->addWidget(chart_, 1);
  setWidget(w);
  // 50 ms ticks: fine enough to show a freeze, few enough wake-ups to let an idle laptop sleep.
  monitor_ = new EventLoopMonitor(50, this);
  start_ms_ = QDateTime::currentMSecsSinceEpoch();
  timer_.setInterval(500);
  connect(&timer_, &QTimer::timeout, this, &ResourcesDock::sample);
  timer_.start();
  sample();
}

int ResourcesDock::samples() const {
  return ram_->data()->size();
}

QString ResourcesDock::summary() const {
  return label_->text();
}

void ResourcesDock::sample() {
  const double t = double(QDateTime::currentMSecsSinceEpoch() - start_ms_) / 1000.0;
  const MemoryStats m = memory_stats();
  ram_->addData(t, double(m.rss_bytes) / 1e9);
  const auto dev = device_memory();
  // Where there is none, say why (a CPU libtorch, or no device present).
  QString vram = tr("VRAM: %1").arg(QString::fromStdString(cuda_status()));
  if (dev) {
    vram_->addData(t, double(dev->allocated_bytes) / 1e9);
    vram = tr("VRAM %1 (peak %2, reserved %3)")
               .arg(human_bytes(double(dev->allocated_bytes)),
                    human_bytes(double(dev->peak_allocated_bytes)),
                    human_bytes(double(dev->reserved_bytes)));
  }
  // Keep the last ten minutes.
  ram_->data()->removeBefore(t - 600);
  vram_->data()->removeBefore(t - 600);
  chart_->xAxis->setRange(std::max(0.0, t - 600), std::max(t, 10.0));
  bool found = false;
  const QCPRange r = ram_->data()->valueRange(found);
  chart_->yAxis->setRange(0, found ? r.upper * 1.2 + 0.01 : 1);
  chart_->request_replot();
  label_->setText(
      tr("RAM %1 (peak %2) · %3 · longest UI stall %4 ms")
          .arg(human_bytes(double(m.rss_bytes)), human_bytes(double(m.peak_rss_bytes)), vram)
          .arg(monitor_->longest_stall_ms(), 0, 'f', 0));
}

}  // namespace hqq::ui
