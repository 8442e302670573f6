#include "ui/form_fields.h"

#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSpinBox>
#include <QToolButton>

namespace hqq::ui {

QSpinBox* spin_box(int lo, int hi, int value, const QString& tip) {
  auto* s = new QSpinBox;
  s->setRange(lo, hi);
  s->setValue(value);
  s->setToolTip(tip);
  return s;
}

QDoubleSpinBox* real_box(double lo, double hi, double value, double step, int decimals,
                         const QString& tip) {
  auto* s = new QDoubleSpinBox;
  s->setDecimals(decimals);  // before the range and value, which it would round
  s->setRange(lo, hi);
  s->setSingleStep(step);
  s->setValue(value);
  s->setToolTip(tip);
  return s;
}

void fit_form_width(QScrollArea* area) {
  // The form's fields keep their size hint; only its height scrolls.
  area->setMinimumWidth(area->widget()->sizeHint().width() +
                        area->verticalScrollBar()->sizeHint().width() + 2 * area->frameWidth());
  area->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
}

QWidget* path_row(QLineEdit* edit, bool folder, QWidget* parent) {
  auto* w = new QWidget(parent);
  auto* l = new QHBoxLayout(w);
  l->setContentsMargins(0, 0, 0, 0);
  auto* b = new QToolButton(w);  // narrow: the width belongs to the path
  b->setText("…");
  b->setToolTip(folder ? QObject::tr("Choose a folder") : QObject::tr("Choose a file"));
  l->addWidget(edit, 1);
  l->addWidget(b);
  QObject::connect(b, &QPushButton::clicked, w, [edit, folder, w] {
    const QString p = folder ? QFileDialog::getExistingDirectory(w, QString(), edit->text())
                             : QFileDialog::getOpenFileName(w, QString(), edit->text());
    if (!p.isEmpty()) edit->setText(p);
  });
  return w;
}

}  // namespace hqq::ui
