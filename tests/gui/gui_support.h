#pragma once
// Helpers for the widget tests: a window with its own settings file, waiting for jobs, and
// screenshots under the build folder.
#include <gtest/gtest.h>

#include <QSettings>
#include <QTest>
#include <QWidget>
#include <memory>

#include "tests/test_support.h"
#include "ui/job_runner.h"

QT_BEGIN_NAMESPACE
inline void PrintTo(const QString& s, std::ostream* os) {
  *os << '"' << s.toStdString() << '"';
}
inline std::ostream& operator<<(std::ostream& os, const QString& s) {
  return os << s.toStdString();
}
QT_END_NAMESPACE

namespace hqq::test {

inline QString qpath(const std::filesystem::path& p) {
  return QString::fromStdString(p.string());
}

inline std::unique_ptr<QSettings> temp_settings(const TempDir& tmp) {
  return std::make_unique<QSettings>(qpath(tmp / "settings.ini"), QSettings::IniFormat);
}

inline void save_screenshot(QWidget& w, const QString& name) {
  const QString path = QString(HQQ_TEST_SCREENSHOT_DIR) + "/" + name + ".png";
  ASSERT_TRUE(w.grab().save(path)) << path.toStdString();
}

// Waits until the runner's job has finished (the finished signal delivered).
inline bool wait_job(const ui::JobRunner* r, int timeout_ms = 120000) {
  return QTest::qWaitFor([r] { return !r->running(); }, timeout_ms);
}

inline std::filesystem::path sample_data() {
  return std::filesystem::path(HQQ_TEST_DEMO_MODEL_DIR).parent_path() / "sample-data";
}

}  // namespace hqq::test
