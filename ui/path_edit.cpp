#include "ui/path_edit.h"

#include <QPainter>
#include <QStyleOptionFrame>

namespace hqq::ui {

PathEdit::PathEdit(QWidget* parent) : QLineEdit(parent) {
  connect(this, &QLineEdit::textChanged, this, [this](const QString& t) {
    setToolTip(t.isEmpty() ? QString() : t);
    update();
  });
}

QSize PathEdit::sizeHint() const {
  // About 32 characters: with the middle elided, both ends of a path stay readable.
  QSize s = QLineEdit::sizeHint();
  s.setWidth(std::max(s.width(), fontMetrics().horizontalAdvance(QLatin1Char('x')) * 32));
  return s;
}

QSize PathEdit::minimumSizeHint() const {
  QSize s = QLineEdit::minimumSizeHint();
  s.setWidth(std::max(s.width(), fontMetrics().horizontalAdvance(QLatin1Char('x')) * 24));
  return s;
}

namespace {
QRect text_rect(const QLineEdit& e) {
  QStyleOptionFrame opt;
  opt.initFrom(&e);
  opt.rect = e.contentsRect();
  opt.lineWidth = e.hasFrame() ? e.style()->pixelMetric(QStyle::PM_DefaultFrameWidth, &opt, &e) : 0;
  QRect r = e.style()->subElementRect(QStyle::SE_LineEditContents, &opt, &e);
  const QMargins m = e.textMargins();
  return r.marginsRemoved(m).adjusted(2, 0, -2, 0);  // QLineEdit's own horizontal margin
}
}  // namespace

QString PathEdit::shown_text() const {
  if (hasFocus()) return text();
  return elide_middle(fontMetrics(), text(), text_rect(*this).width());
}

void PathEdit::paintEvent(QPaintEvent* e) {
  const QRect r = text_rect(*this);
  if (hasFocus() || text().isEmpty() || fontMetrics().horizontalAdvance(text()) <= r.width()) {
    QLineEdit::paintEvent(e);
    return;
  }
  // The frame as QLineEdit draws it, then the elided text in place of the scrolled one.
  QPainter p(this);
  QStyleOptionFrame opt;
  initStyleOption(&opt);
  style()->drawPrimitive(QStyle::PE_PanelLineEdit, &opt, &p, this);
  p.setPen(palette().color(isEnabled() ? QPalette::Active : QPalette::Disabled, QPalette::Text));
  p.drawText(r, Qt::AlignVCenter | Qt::AlignLeft, shown_text());
}

QString elide_middle(const QFontMetrics& fm, const QString& text, int width) {
  return fm.elidedText(text, Qt::ElideMiddle, std::max(width, 0));
}

}  // namespace hqq::ui
