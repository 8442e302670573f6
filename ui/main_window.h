#pragma once
// The main window: a page list on the left, the pages on the right, menus and status bar.
// Geometry and state are saved in QSettings and restored at the next start.
#include <QMainWindow>
#include <QSettings>

class QListWidget;
class QStackedWidget;

namespace hqq::ui {

class ModelPage;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QSettings& settings, QWidget* parent = nullptr);
  ModelPage* model_page() const { return model_page_; }
  void show_about();

 protected:
  void closeEvent(QCloseEvent* e) override;

 private:
  void add_page(QWidget* page, const QString& name, const QString& tooltip);
  QSettings& settings_;
  QListWidget* nav_ = nullptr;
  QStackedWidget* pages_ = nullptr;
  ModelPage* model_page_ = nullptr;
};

// Where the embedded demo model lives (installed or in the source tree); empty when absent.
QString demo_model_dir();

}  // namespace hqq::ui
