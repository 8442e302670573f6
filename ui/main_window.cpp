#include "ui/main_window.h"

#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QHBoxLayout>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QStackedWidget>
#include <QStatusBar>

#include "core/build_info.h"
#include "ui/model_page.h"

namespace hqq::ui {

QString demo_model_dir() {
  const QString app_dir = QCoreApplication::applicationDirPath();
  for (const QString& d : {app_dir + "/../share/hqq-studio/demo-model",
                           QString(HQQ_DEMO_MODEL_INSTALL_DIR), QString(HQQ_DEMO_MODEL_SOURCE_DIR)})
    if (QDir(d).exists("config.json")) return QDir(d).canonicalPath();
  return {};
}

MainWindow::MainWindow(QSettings& settings, QWidget* parent)
    : QMainWindow(parent), settings_(settings) {
  setWindowTitle(tr("HQQ Studio"));
  auto* central = new QWidget(this);
  auto* layout = new QHBoxLayout(central);
  nav_ = new QListWidget(central);
  nav_->setMaximumWidth(180);
  pages_ = new QStackedWidget(central);
  layout->addWidget(nav_);
  layout->addWidget(pages_, 1);
  setCentralWidget(central);

  model_page_ = new ModelPage(settings_, pages_);
  add_page(model_page_, tr("Model"), tr("Open a checkpoint and see its card"));
  connect(nav_, &QListWidget::currentRowChanged, pages_, &QStackedWidget::setCurrentIndex);
  nav_->setCurrentRow(0);

  auto* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&Open model folder…"), QKeySequence::Open, model_page_,
                  &ModelPage::choose_model);
  QString demo = demo_model_dir();
  auto* demo_action = file->addAction(tr("Open the &demo model"), this,
                                      [this, demo] { model_page_->open_model(demo); });
  demo_action->setEnabled(!demo.isEmpty());
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
  auto* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About HQQ Studio"), this, &MainWindow::show_about);

  connect(model_page_, &ModelPage::model_opened, this, [this](const QString& dir) {
    statusBar()->showMessage(tr("Opened %1").arg(dir), 5000);
    setWindowTitle(tr("HQQ Studio — %1").arg(QDir(dir).dirName()));
  });
  connect(model_page_, &ModelPage::model_failed, this,
          [this](const QString&, const QString& msg) { statusBar()->showMessage(msg, 10000); });

  resize(1100, 720);
  restoreGeometry(settings_.value("window/geometry").toByteArray());
  restoreState(settings_.value("window/state").toByteArray());
}

void MainWindow::add_page(QWidget* page, const QString& name, const QString& tooltip) {
  pages_->addWidget(page);
  auto* item = new QListWidgetItem(name, nav_);
  item->setToolTip(tooltip);
}

void MainWindow::show_about() {
  QMessageBox::about(
      this, tr("About HQQ Studio"),
      tr("<h3>HQQ Studio %1</h3><p>Quantize local LLM checkpoints with HQQ, see what it did, win "
         "quality back with HQQ+ adapters, and chat with the result.</p>"
         "<p>Qt %2 · libtorch %3 · CPU kernels: %4</p><p>GPL-3.0-or-later.</p>")
          .arg(QString::fromStdString(hqq_version()), qVersion(),
               QString::fromStdString(torch_version()), QString::fromStdString(cpu_summary())));
}

void MainWindow::closeEvent(QCloseEvent* e) {
  settings_.setValue("window/geometry", saveGeometry());
  settings_.setValue("window/state", saveState());
  QMainWindow::closeEvent(e);
}

}  // namespace hqq::ui
