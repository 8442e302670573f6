#pragma once
// The application's style for the light and dark themes: Fusion, with a focus ring that can be
// seen. Fusion draws keyboard focus as its highlight colour, darkened, at 30 % opacity: on the
// dark theme's grey that is nearly invisible, so keyboard users lose track of where they are.
#include <QProxyStyle>

namespace hqq::ui {

class AppStyle : public QProxyStyle {
  Q_OBJECT
 public:
  AppStyle();  // Fusion underneath
  void drawPrimitive(PrimitiveElement element, const QStyleOption* option, QPainter* painter,
                     const QWidget* widget = nullptr) const override;
};

}  // namespace hqq::ui
