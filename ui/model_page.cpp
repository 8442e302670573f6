#include "ui/model_page.h"

#include <QDir>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMimeData>
#include <QPushButton>
#include <QSplitter>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include "core/quant/model_card.h"
#include "ui/model_card_widget.h"
#include "ui/recent_models.h"
#include "ui/workspace.h"

namespace hqq::ui {

struct ModelPage::Result {
  std::optional<ModelInfo> info;
  std::vector<LayerReport> reports;
  QString error, report_problem;
};

ModelPage::ModelPage(Workspace& ws, QSettings& settings, QWidget* parent)
    : QWidget(parent), ws_(ws), settings_(settings) {
  setAcceptDrops(true);
  auto* layout = new QHBoxLayout(this);
  auto* split = new QSplitter(this);
  layout->addWidget(split);

  auto* left = new QWidget(split);
  auto* lv = new QVBoxLayout(left);
  open_ = new QPushButton(tr("Open model folder…"), left);
  open_->setToolTip(
      tr("A Hugging Face folder with config.json and safetensors weights (Ctrl+O). "
         "You can also drop a folder on this page."));
  lv->addWidget(open_);
  lv->addWidget(new QLabel(tr("Recent models"), left));
  recent_ = new QListWidget(left);
  recent_->setToolTip(tr("Double-click to open again"));
  lv->addWidget(recent_, 1);

  auto* right = new QWidget(split);
  auto* rv = new QVBoxLayout(right);
  error_ = new QLabel(right);
  error_->setWordWrap(true);
  error_->setStyleSheet("QLabel { color: #c62828; font-weight: bold; }");
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_->hide();
  status_ = new QLabel(right);
  card_ = new ModelCardWidget(right);
  rv->addWidget(error_);
  rv->addWidget(status_);
  rv->addWidget(card_, 1);
  split->setStretchFactor(1, 3);

  connect(open_, &QPushButton::clicked, this, &ModelPage::choose_model);
  connect(recent_, &QListWidget::itemActivated, this,
          [this](QListWidgetItem* it) { open_model(it->data(Qt::UserRole).toString()); });
  connect(&watcher_, &QFutureWatcher<std::shared_ptr<Result>>::finished, this,
          &ModelPage::finished);
  refresh_recent();
}

ModelPage::~ModelPage() {
  watcher_.waitForFinished();
}

QString ModelPage::error_text() const {
  return error_->isVisible() ? error_->text() : QString();
}

bool ModelPage::busy() const {
  return busy_;
}

void ModelPage::choose_model() {
  QString start = current_.isEmpty() ? settings_.value("lastModelDir").toString() : current_;
  QString dir = QFileDialog::getExistingDirectory(this, tr("Open a model folder"), start);
  if (!dir.isEmpty()) open_model(dir);
}

void ModelPage::open_model(const QString& dir) {
  if (busy_) return;
  busy_ = true;
  pending_ = dir;
  status_->setText(tr("Reading %1…").arg(dir));
  error_->hide();
  open_->setEnabled(false);
  // Only headers and JSON are read, but a network drive can still be slow: never on the UI thread.
  watcher_.setFuture(QtConcurrent::run([dir]() {
    auto r = std::make_shared<Result>();
    try {
      r->info = describe_model(dir.toStdString());
      try {  // a damaged report must not keep the model from opening
        if (!r->info->quantization.empty()) r->reports = read_layer_reports(dir.toStdString());
      } catch (const std::exception& e) {
        r->report_problem = QString::fromStdString(e.what());
      }
    } catch (const std::exception& e) {
      r->error = QString::fromStdString(e.what());
    }
    return r;
  }));
}

void ModelPage::finished() {
  busy_ = false;
  open_->setEnabled(true);
  status_->clear();
  auto r = watcher_.result();
  RecentModels recent(settings_);
  if (!r->info) {
    error_->setText(tr("Cannot open this model: %1").arg(r->error));
    error_->show();
    Q_EMIT model_failed(pending_, r->error);
    return;
  }
  current_ = pending_;
  card_->show_info(*r->info);
  ws_.set_model(current_, *r->info);
  if (!r->reports.empty()) Q_EMIT report_loaded(r->reports);
  if (!r->report_problem.isEmpty())
    status_->setText(tr("The quantization report could not be read: %1").arg(r->report_problem));
  recent.add(current_);
  settings_.setValue("lastModelDir", QFileInfo(current_).absolutePath());
  refresh_recent();
  Q_EMIT model_opened(current_);
}

void ModelPage::refresh_recent() {
  recent_->clear();
  for (const QString& dir : RecentModels(settings_).list()) {
    auto* item = new QListWidgetItem(QDir(dir).dirName(), recent_);
    item->setData(Qt::UserRole, dir);
    item->setToolTip(dir);
  }
}

void ModelPage::dragEnterEvent(QDragEnterEvent* e) {
  const auto urls = e->mimeData()->urls();
  if (urls.size() == 1 && urls[0].isLocalFile() && QFileInfo(urls[0].toLocalFile()).isDir())
    e->acceptProposedAction();
}

void ModelPage::dropEvent(QDropEvent* e) {
  const auto urls = e->mimeData()->urls();
  if (!urls.isEmpty()) open_model(urls[0].toLocalFile());
}

}  // namespace hqq::ui
