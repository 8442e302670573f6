#include "ui/main_window.h"

#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QHBoxLayout>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QStackedWidget>
#include <QStatusBar>
#include <QStyle>
#include <QStyleFactory>

#include <qcustomplot.h>

#include "core/base/build_info.h"
#include "ui/chat_page.h"
#include "ui/evaluate_page.h"
#include "ui/finetune_page.h"
#include "ui/inspect_page.h"
#include "ui/job_runner.h"
#include "ui/log_dock.h"
#include "ui/model_page.h"
#include "ui/quantize_page.h"
#include "ui/resource_paths.h"
#include "ui/resources_dock.h"
#include "ui/workspace.h"

// The icon lives in a static library's resources, which the linker would drop without this.
static void init_resources() {
  Q_INIT_RESOURCE(hqq_studio);
}

namespace hqq::ui {

namespace {
QPalette dark_palette() {
  QPalette p;
  const QColor window(0x2b, 0x2b, 0x2b), base(0x1e, 0x1e, 0x1e), text(0xe0, 0xe0, 0xe0);
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Base, base);
  p.setColor(QPalette::AlternateBase, window);
  p.setColor(QPalette::ToolTipBase, window);
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::Button, window);
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::Highlight, QColor(0x3d, 0x7a, 0xc6));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, QColor(0x6c, 0xb4, 0xff));
  p.setColor(QPalette::Disabled, QPalette::Text, QColor(0x80, 0x80, 0x80));
  p.setColor(QPalette::Disabled, QPalette::ButtonText, QColor(0x80, 0x80, 0x80));
  return p;
}
}  // namespace

MainWindow::MainWindow(QSettings& settings, QWidget* parent)
    : QMainWindow(parent), settings_(settings) {
  setWindowTitle(tr("HQQ Studio"));
  init_resources();
  setWindowIcon(QIcon(":/hqq-studio.svg"));
  workspace_ = new Workspace(this);
  auto* central = new QWidget(this);
  auto* layout = new QHBoxLayout(central);
  nav_ = new QListWidget(central);
  nav_->setMaximumWidth(170);
  pages_ = new QStackedWidget(central);
  layout->addWidget(nav_);
  layout->addWidget(pages_, 1);
  setCentralWidget(central);

  model_page_ = new ModelPage(*workspace_, settings_, pages_);
  quantize_page_ = new QuantizePage(*workspace_, settings_, pages_);
  inspect_page_ = new InspectPage(pages_);
  finetune_page_ = new FinetunePage(*workspace_, settings_, pages_);
  evaluate_page_ = new EvaluatePage(*workspace_, settings_, pages_);
  chat_page_ = new ChatPage(*workspace_, settings_, pages_);
  add_page(model_page_, tr("Model"), tr("Open a checkpoint and see its card (Ctrl+1)"));
  add_page(quantize_page_, tr("Quantize"), tr("Quantize it with HQQ (Ctrl+2)"));
  add_page(inspect_page_, tr("Inspect"), tr("Per-layer error and weight histograms (Ctrl+3)"));
  add_page(finetune_page_, tr("Fine-tune (HQQ+)"),
           tr("Train LoRA adapters on the quantized model (Ctrl+4)"));
  add_page(evaluate_page_, tr("Evaluate"),
           tr("Perplexity of original, quantized, +adapter (Ctrl+5)"));
  add_page(chat_page_, tr("Chat"), tr("Talk to a model, or compare two (Ctrl+6)"));
  connect(nav_, &QListWidget::currentRowChanged, pages_, &QStackedWidget::setCurrentIndex);

  resources_ = new ResourcesDock(this);
  log_ = new LogDock(this);
  addDockWidget(Qt::BottomDockWidgetArea, resources_);
  addDockWidget(Qt::BottomDockWidgetArea, log_);
  tabifyDockWidget(resources_, log_);
  resources_->raise();

  // Pages talk through signals only; the window is the one place that knows them all.
  connect(quantize_page_, &QuantizePage::quantization_started, inspect_page_, &InspectPage::clear);
  connect(quantize_page_, &QuantizePage::layer_done, inspect_page_, &InspectPage::add_report);
  connect(model_page_, &ModelPage::report_loaded, inspect_page_, &InspectPage::set_reports);
  for (JobRunner* r : {quantize_page_->runner(), finetune_page_->runner(), evaluate_page_->runner(),
                       chat_page_->runner()}) {
    connect(r, &JobRunner::log_line, log_, &LogDock::append);
    connect(r, &JobRunner::finished, this, [this, r](bool ok, bool cancelled, const QString& e) {
      statusBar()->showMessage(ok          ? tr("%1 finished").arg(r->name())
                               : cancelled ? tr("%1 cancelled").arg(r->name())
                                           : tr("%1 failed: %2").arg(r->name(), e),
                               10000);
    });
  }
  connect(model_page_, &ModelPage::model_opened, this, [this](const QString& dir) {
    statusBar()->showMessage(tr("Opened %1").arg(dir), 5000);
    setWindowTitle(tr("HQQ Studio — %1").arg(QDir(dir).dirName()));
    log_->append(tr("Opened %1").arg(dir));
  });
  connect(model_page_, &ModelPage::model_failed, this, [this](const QString&, const QString& msg) {
    statusBar()->showMessage(msg, 10000);
    log_->append(msg);
  });

  build_menus();
  resize(1280, 820);
  restoreGeometry(settings_.value("window/geometry").toByteArray());
  restoreState(settings_.value("window/state").toByteArray());
  show_page(static_cast<Page>(settings_.value("window/page", 0).toInt() % kPageCount));
  set_theme(settings_.value("window/theme", "system").toString());
}

MainWindow::~MainWindow() = default;

void MainWindow::build_menus() {
  auto* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&Open model folder…"), QKeySequence::Open, model_page_,
                  &ModelPage::choose_model);
  const QString demo = demo_model_dir();
  auto* demo_action = file->addAction(tr("Open the &demo model"), this, [this, demo] {
    model_page_->open_model(demo);
    show_page(kModel);
  });
  demo_action->setEnabled(!demo.isEmpty());
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

  auto* view = menuBar()->addMenu(tr("&View"));
  const QString names[] = {tr("&Model"),     tr("&Quantize"), tr("&Inspect"),
                           tr("&Fine-tune"), tr("&Evaluate"), tr("&Chat")};
  for (int i = 0; i < kPageCount; ++i)
    view->addAction(names[i], QKeySequence(Qt::CTRL | static_cast<Qt::Key>(Qt::Key_1 + i)), this,
                    [this, i] { show_page(static_cast<Page>(i)); });
  view->addSeparator();
  view->addAction(resources_->toggleViewAction());
  view->addAction(log_->toggleViewAction());
  auto* theme = view->addMenu(tr("&Theme"));
  auto* group = new QActionGroup(this);
  const QString current = settings_.value("window/theme", "system").toString();
  for (const auto& [key, label] :
       {std::pair{"system", tr("System")}, std::pair{"light", tr("Light")},
        std::pair{"dark", tr("Dark")}}) {
    auto* a = theme->addAction(label, this, [this, k = QString(key)] { set_theme(k); });
    a->setCheckable(true);
    a->setChecked(current == key);
    group->addAction(a);
  }

  auto* jobs = menuBar()->addMenu(tr("&Jobs"));
  jobs->addAction(tr("Cancel all jobs"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_X), this,
                  [this] {
                    for (JobRunner* r : {quantize_page_->runner(), finetune_page_->runner(),
                                         evaluate_page_->runner(), chat_page_->runner()})
                      r->cancel();
                  });
  auto* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About HQQ Studio"), this, &MainWindow::show_about);
}

void MainWindow::set_theme(const QString& name) {
  settings_.setValue("window/theme", name);
  if (name == "dark") {
    QApplication::setStyle(QStyleFactory::create("Fusion"));
    QApplication::setPalette(dark_palette());
  } else if (name == "light") {
    QApplication::setStyle(QStyleFactory::create("Fusion"));
    QApplication::setPalette(QApplication::style()->standardPalette());
  } else {
    QApplication::setPalette(QPalette());
  }
}

void MainWindow::show_page(Page p) {
  nav_->setCurrentRow(p);
}

QWidget* MainWindow::page(Page p) const {
  return pages_->widget(p);
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
         "<p>Qt %2 · QCustomPlot %3 · libtorch %4 · CPU kernels: %5</p><p>GPL-3.0-or-later.</p>")
          .arg(QString::fromStdString(hqq_version()), qVersion(), QCUSTOMPLOT_VERSION_STR,
               QString::fromStdString(torch_version()), QString::fromStdString(cpu_summary())));
}

void MainWindow::save_state() {
  settings_.setValue("window/geometry", saveGeometry());
  settings_.setValue("window/state", saveState());
  settings_.setValue("window/page", pages_->currentIndex());
}

void MainWindow::closeEvent(QCloseEvent* e) {
  save_state();
  QMainWindow::closeEvent(e);
}

}  // namespace hqq::ui
