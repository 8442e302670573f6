#pragma once
// A line edit for file and folder paths: wide enough to read a path, elided in the middle when it
// does not fit ("/home/ann/…/demo-model-hqq-4bit-g64") while it is not being edited, and the full
// path in its tooltip. Editing shows the whole text as a plain QLineEdit would.
#include <QLineEdit>

namespace hqq::ui {

class PathEdit : public QLineEdit {
  Q_OBJECT
 public:
  explicit PathEdit(QWidget* parent = nullptr);
  QSize sizeHint() const override;
  QSize minimumSizeHint() const override;
  // What is drawn when the field is not focused (the text itself when it fits).
  QString shown_text() const;

 protected:
  void paintEvent(QPaintEvent* e) override;
};

// Text for a table cell or label: elided in the middle to `width` pixels with `fm`.
QString elide_middle(const QFontMetrics& fm, const QString& text, int width);

}  // namespace hqq::ui
