#include "ui/app_style.h"

#include <QPainter>
#include <QStyleFactory>
#include <QStyleOption>

namespace hqq::ui {

AppStyle::AppStyle() : QProxyStyle(QStyleFactory::create("Fusion")) {}

void AppStyle::drawPrimitive(PrimitiveElement element, const QStyleOption* option,
                             QPainter* painter, const QWidget* widget) const {
  if (element == PE_FrameFocusRect) {
    // Only when focus moved by keyboard, as Fusion does; but opaque, 2 px, in the highlight.
    if (!(option->state & State_KeyboardFocusChange)) return;
    painter->save();
    painter->setRenderHint(QPainter::Antialiasing, true);
    QPen pen(option->palette.color(QPalette::Highlight), 2);
    painter->setPen(pen);
    painter->setBrush(Qt::NoBrush);
    painter->drawRoundedRect(QRectF(option->rect).adjusted(1, 1, -1, -1), 2, 2);
    painter->restore();
    return;
  }
  QProxyStyle::drawPrimitive(element, option, painter, widget);
}

}  // namespace hqq::ui
