#pragma once
// Helpers for the widget tests: a window with its own settings file, waiting for jobs, and
// screenshots under the build folder.
#include <gtest/gtest.h>

#include <QAbstractButton>
#include <QApplication>
#include <QMessageBox>
#include <QSettings>
#include <QTest>
#include <QTimer>
#include <QWidget>
#include <memory>

#include "tests/test_support.h"
#include "ui/job_runner.h"
#include "ui/main_window.h"
#include "ui/model_page.h"
#include "ui/resource_paths.h"

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

inline void open_model(ui::MainWindow& w, const QString& dir) {
  w.model_page()->open_model(dir);
  ASSERT_TRUE(QTest::qWaitFor([&] { return !w.model_page()->busy(); }, 10000));
  ASSERT_TRUE(w.model_page()->error_text().isEmpty()) << w.model_page()->error_text();
}

inline void open_demo(ui::MainWindow& w) {
  open_model(w, ui::demo_model_dir());
}

// A main window with its own settings file (and output folder under its temporary folder),
// showing the demo model.
struct DemoWindow {
  TempDir tmp;
  std::unique_ptr<QSettings> settings = with_output_folder(temp_settings(tmp), tmp);
  ui::MainWindow w{*settings};
  explicit DemoWindow(QSize size = {1280, 820}) {
    w.resize(size);
    w.show();
    open_demo(w);
  }
  static std::unique_ptr<QSettings> with_output_folder(std::unique_ptr<QSettings> s,
                                                       const TempDir& t) {
    s->setValue("output/folder", qpath(t / "outputs"));
    return s;
  }
};

// Answers the next message box that opens (within `timeout_ms`) with `button`, and keeps its
// text in `*text`: the way to drive a modal question from a test.
inline void answer_next_message_box(QMessageBox::StandardButton button, QString* text,
                                    int timeout_ms = 10000) {
  auto* timer = new QTimer;
  timer->setInterval(20);
  auto waited = std::make_shared<int>(0);
  QObject::connect(timer, &QTimer::timeout, [timer, button, text, waited, timeout_ms] {
    if (auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget())) {
      if (text) *text = box->text();
      box->button(button)->click();
      timer->deleteLater();
      timer->stop();
    } else if ((*waited += 20) > timeout_ms) {
      timer->stop();
      timer->deleteLater();
    }
  });
  timer->start();
}

// No file or folder left in `dir` but those named (a cancelled job leaves nothing behind).
inline std::vector<std::string> leftovers(const std::filesystem::path& dir,
                                          const std::vector<std::string>& expected) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (std::find(expected.begin(), expected.end(), n) == expected.end()) out.push_back(n);
  }
  return out;
}

}  // namespace hqq::test
