#pragma once
// The Log dock: what the jobs report, time-stamped; kept to the last few thousand lines.
#include <QDockWidget>

class QPlainTextEdit;

namespace hqq::ui {

class LogDock : public QDockWidget {
  Q_OBJECT
 public:
  explicit LogDock(QWidget* parent = nullptr);
  QString text() const;

 public Q_SLOTS:
  void append(const QString& line);

 private:
  QPlainTextEdit* view_;
};

}  // namespace hqq::ui
