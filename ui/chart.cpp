#include "ui/chart.h"

#include <QContextMenuEvent>
#include <QFileDialog>
#include <QMenu>

namespace hqq::ui {

QColor series_color(int i) {
  static const QColor kColors[] = {QColor(0x1f, 0x77, 0xb4), QColor(0xff, 0x7f, 0x0e),
                                   QColor(0x2c, 0xa0, 0x2c), QColor(0xd6, 0x27, 0x28),
                                   QColor(0x94, 0x67, 0xbd), QColor(0x8c, 0x56, 0x4b),
                                   QColor(0xe3, 0x77, 0xc2), QColor(0x17, 0xbe, 0xcf)};
  return kColors[i % 8];
}

Chart::Chart(QWidget* parent) : QCustomPlot(parent) {
  throttle_.setSingleShot(true);
  throttle_.setInterval(100);
  connect(&throttle_, &QTimer::timeout, this, [this] {
    ++replots_;
    replot(QCustomPlot::rpQueuedReplot);
  });
  setMinimumHeight(160);
  setToolTip(tr("Drag to pan, wheel to zoom; right-click to export"));
  setInteractions(QCP::iRangeDrag | QCP::iRangeZoom | QCP::iSelectPlottables);
  apply_theme();
}

void Chart::request_replot() {
  if (!throttle_.isActive()) throttle_.start();
}

void Chart::apply_theme() {
  const QPalette pal = palette();
  const QColor fg = pal.color(QPalette::WindowText), bg = pal.color(QPalette::Base);
  QColor grid = fg;
  grid.setAlpha(45);
  setBackground(bg);
  for (QCPAxis* ax : {xAxis, yAxis, xAxis2, yAxis2}) {
    ax->setBasePen(QPen(fg));
    ax->setTickPen(QPen(fg));
    ax->setSubTickPen(QPen(fg));
    ax->setTickLabelColor(fg);
    ax->setLabelColor(fg);
    ax->grid()->setPen(QPen(grid, 1, Qt::DotLine));
  }
  legend->setBrush(QBrush(bg));
  legend->setTextColor(fg);
  legend->setBorderPen(QPen(grid));
  request_replot();
}

void Chart::changeEvent(QEvent* e) {
  if (e->type() == QEvent::PaletteChange) apply_theme();
  QCustomPlot::changeEvent(e);
}

bool Chart::export_to(const QString& path) {
  if (path.endsWith(".pdf", Qt::CaseInsensitive)) return savePdf(path);
  return savePng(path, 0, 0, 2.0);  // 2×: crisp on high-DPI screens and in documents
}

void Chart::contextMenuEvent(QContextMenuEvent* e) {
  QMenu menu(this);
  menu.addAction(tr("Export as PNG…"), this, [this] {
    QString p = QFileDialog::getSaveFileName(this, tr("Export chart"), "chart.png", "PNG (*.png)");
    if (!p.isEmpty()) export_to(p);
  });
  menu.addAction(tr("Export as PDF…"), this, [this] {
    QString p = QFileDialog::getSaveFileName(this, tr("Export chart"), "chart.pdf", "PDF (*.pdf)");
    if (!p.isEmpty()) export_to(p);
  });
  menu.addAction(tr("Fit to data"), this, [this] {
    rescaleAxes();
    replot();
  });
  menu.exec(e->globalPos());
}

}  // namespace hqq::ui
