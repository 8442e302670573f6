#include "ui/log_dock.h"

#include <QPlainTextEdit>
#include <QTime>

namespace hqq::ui {

LogDock::LogDock(QWidget* parent) : QDockWidget(tr("Log"), parent) {
  setObjectName("log_dock");
  view_ = new QPlainTextEdit(this);
  view_->setReadOnly(true);
  view_->setMaximumBlockCount(5000);
  view_->setToolTip(tr("What the jobs reported"));
  setWidget(view_);
}

QString LogDock::text() const {
  return view_->toPlainText();
}

void LogDock::append(const QString& line) {
  view_->appendPlainText(QTime::currentTime().toString("hh:mm:ss  ") + line);
}

}  // namespace hqq::ui
