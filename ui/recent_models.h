#pragma once
// The list of recently opened model folders, kept in QSettings between runs.
#include <QSettings>
#include <QStringList>

namespace hqq::ui {

class RecentModels {
 public:
  static constexpr int kMax = 10;
  explicit RecentModels(QSettings& settings) : settings_(settings) {}
  QStringList list() const;
  void add(const QString& dir);  // moves it to the front
  void remove(const QString& dir);

 private:
  QSettings& settings_;
};

}  // namespace hqq::ui
