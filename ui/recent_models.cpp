#include "ui/recent_models.h"

namespace hqq::ui {

QStringList RecentModels::list() const {
  return settings_.value("recentModels").toStringList();
}

void RecentModels::add(const QString& dir) {
  QStringList l = list();
  l.removeAll(dir);
  l.prepend(dir);
  while (l.size() > kMax) l.removeLast();
  settings_.setValue("recentModels", l);
}

void RecentModels::remove(const QString& dir) {
  QStringList l = list();
  l.removeAll(dir);
  settings_.setValue("recentModels", l);
}

}  // namespace hqq::ui
