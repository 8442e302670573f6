#include "ui/main_window.h"

#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QStackedWidget>
#include <QStatusBar>
#include <QStyle>
#include <QStyleFactory>
#include <QTimer>

#include <qcustomplot.h>

#include "core/base/build_info.h"
#include "ui/app_style.h"
#include "ui/chat_page.h"
#include "ui/evaluate_page.h"
#include "ui/finetune_page.h"
#include "ui/inspect_page.h"
#include "ui/job_runner.h"
#include "ui/log_dock.h"
#include "ui/model_page.h"
#include "ui/output_paths.h"
#include "ui/quantize_page.h"
#include "ui/recent_models.h"
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
  // Bright enough that Fusion's focus ring (drawn from Highlight, darkened) reads on dark grey.
  p.setColor(QPalette::Highlight, QColor(0x4a, 0x9a, 0xff));
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
  nav_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  nav_->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  nav_->setTextElideMode(Qt::ElideNone);
  nav_->setIconSize(QSize(20, 20));
  nav_->setSpacing(2);
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
  // Wide enough for the longest name: the list never cuts a page's name.
  int widest = 0;
  for (int i = 0; i < nav_->count(); ++i)
    widest = std::max(widest, nav_->fontMetrics().horizontalAdvance(nav_->item(i)->text()));
  nav_->setFixedWidth(widest + nav_->iconSize().width() + 40);

  resources_ = new ResourcesDock(this);
  log_ = new LogDock(this);
  addDockWidget(Qt::BottomDockWidgetArea, resources_);
  addDockWidget(Qt::BottomDockWidgetArea, log_);
  tabifyDockWidget(resources_, log_);
  resources_->raise();

  // Pages talk through signals only; the window is the one place that knows them all.
  connect(quantize_page_, &QuantizePage::quantization_started, inspect_page_,
          [this] { inspect_page_->start_run(quantize_page_->planned_layers()); });
  connect(quantize_page_, &QuantizePage::quantization_finished, inspect_page_,
          &InspectPage::finish_run);
  connect(quantize_page_, &QuantizePage::quantized, this, [this](const QString& dir) {
    RecentModels(settings_).add(dir);  // findable later from the Model page
    model_page_->refresh_recent();
  });
  connect(quantize_page_, &QuantizePage::open_requested, this, [this](const QString& dir) {
    model_page_->open_model(dir);
    show_page(kModel);
  });
  connect(quantize_page_, &QuantizePage::evaluate_requested, this, [this](const QString& dir) {
    evaluate_page_->check_with_original(dir);
    show_page(kEvaluate);
  });
  connect(quantize_page_, &QuantizePage::chat_requested, this, [this](const QString& dir) {
    chat_page_->select_model_dir(dir);
    show_page(kChat);
  });
  connect(quantize_page_, &QuantizePage::layer_done, inspect_page_, &InspectPage::add_report);
  connect(model_page_, &ModelPage::report_loaded, inspect_page_, &InspectPage::set_reports);
  for (JobRunner* r : runners()) {
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

MainWindow::~MainWindow() {
  // Cancel every job at once, so that each page's own wait (in its destructor) is short.
  for (JobRunner* r : runners()) r->cancel();
}

QList<JobRunner*> MainWindow::runners() const {
  return {quantize_page_->runner(), finetune_page_->runner(), evaluate_page_->runner(),
          chat_page_->runner()};
}

void MainWindow::choose_output_folder() {
  const QString d = QFileDialog::getExistingDirectory(
      this, tr("Folder for results of read-only models"), output_root(settings_));
  if (d.isEmpty()) return;
  set_output_root(settings_, d);
  quantize_page_->refresh_output();
}

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
  file->addAction(tr("Output &folder…"), this, &MainWindow::choose_output_folder)
      ->setToolTip(tr("Where results go when the model's own folder is read-only"));
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
                    for (JobRunner* r : runners()) r->cancel();
                  });
  auto* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About HQQ Studio"), this, &MainWindow::show_about);
}

void MainWindow::set_theme(const QString& name) {
  settings_.setValue("window/theme", name);
  if (name == "dark") {
    QApplication::setStyle(new AppStyle);  // the application takes ownership
    QApplication::setPalette(dark_palette());
  } else if (name == "light") {
    QApplication::setStyle(new AppStyle);
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
  static const QStyle::StandardPixmap icons[] = {
      QStyle::SP_DirOpenIcon,   QStyle::SP_ArrowDown,         QStyle::SP_FileDialogContentsView,
      QStyle::SP_BrowserReload, QStyle::SP_DialogApplyButton, QStyle::SP_MessageBoxInformation};
  const int i = pages_->count();
  pages_->addWidget(page);
  auto* item = new QListWidgetItem(style()->standardIcon(icons[i % 6]), name, nav_);
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

namespace {
// "A quantization", "A fine-tuning run", ... for the question asked before quitting.
QString job_phrase(const JobRunner* r, const QString& qname) {
  const QString n = r->name();
  if (n == QObject::tr("Quantization")) return qname;
  if (n == QObject::tr("Fine-tuning")) return QObject::tr("a fine-tuning run");
  if (n == QObject::tr("Evaluation")) return QObject::tr("an evaluation");
  if (n == QObject::tr("Chat")) return QObject::tr("a chat reply");
  return n;
}
}  // namespace

void MainWindow::closeEvent(QCloseEvent* e) {
  QStringList running;
  QList<JobRunner*> busy;
  for (JobRunner* r : runners())
    if (r->running()) {
      busy << r;
      running << job_phrase(r, tr("a quantization"));
    }
  if (!busy.isEmpty()) {
    // Never lose work silently: ask, and on yes stop every job before the window goes.
    QString what = running.size() == 1 ? running[0]
                                       : running.mid(0, running.size() - 1).join(", ") +
                                             tr(" and ") + running.last();
    what[0] = what[0].toUpper();
    last_close_question_ = busy.size() == 1
                               ? tr("%1 is running — cancel it and quit?").arg(what)
                               : tr("%1 are running — cancel them and quit?").arg(what);
    QMessageBox box(QMessageBox::Warning, tr("Quit HQQ Studio"), last_close_question_,
                    QMessageBox::Yes | QMessageBox::No, this);
    box.setInformativeText(
        tr("A cancelled quantization writes nothing; a cancelled fine-tuning "
           "run keeps its last checkpoint."));
    box.button(QMessageBox::Yes)->setText(tr("Cancel and quit"));
    box.button(QMessageBox::No)->setText(tr("Keep working"));
    box.setDefaultButton(QMessageBox::No);
    if (box.exec() != QMessageBox::Yes) {
      e->ignore();
      return;
    }
    statusBar()->showMessage(tr("Cancelling…"));
    QApplication::setOverrideCursor(Qt::WaitCursor);
    for (JobRunner* r : busy) r->cancel();
    for (JobRunner* r : busy) r->wait();  // each job removes its temporary output as it ends
    QApplication::restoreOverrideCursor();
  }
  save_state();
  QMainWindow::closeEvent(e);
}

void MainWindow::resizeEvent(QResizeEvent* e) {
  QMainWindow::resizeEvent(e);
  // After the layout has placed the docks for the new size.
  QTimer::singleShot(0, this, &MainWindow::fit_docks);
}

void MainWindow::fit_docks() {
  // Docks keep their height when the window shrinks, so the page would lose its own: cap the
  // bottom docks at a fifth of the window.
  if (!resources_ || resources_->isFloating() || !resources_->isVisible()) return;
  const int cap = std::max(110, height() / 5);
  QDockWidget* shown =
      resources_->visibleRegion().isEmpty() ? static_cast<QDockWidget*>(log_) : resources_;
  if (shown->height() > cap) resizeDocks({shown}, {cap}, Qt::Vertical);
}

}  // namespace hqq::ui
