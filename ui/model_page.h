#pragma once
// The Model page: open a checkpoint folder (dialog, drag-and-drop, recent list) and show its
// card. Reading the card happens in a worker thread; errors appear in the page, never a crash.
#include <QFutureWatcher>
#include <QSettings>
#include <QWidget>
#include <memory>

class QLabel;
class QListWidget;
class QPushButton;

#include "core/quant/layer_report.h"

namespace hqq {
struct ModelInfo;
}

namespace hqq::ui {

class ModelCardWidget;
class Workspace;

class ModelPage : public QWidget {
  Q_OBJECT
 public:
  ModelPage(Workspace& ws, QSettings& settings, QWidget* parent = nullptr);
  ~ModelPage() override;
  const ModelCardWidget* card() const { return card_; }
  QString current_model() const { return current_; }
  QString error_text() const;
  bool busy() const;

 public Q_SLOTS:
  void open_model(const QString& dir);
  void choose_model();
  void refresh_recent();  // re-read the recent list (another page may have added to it)

 Q_SIGNALS:
  void model_opened(const QString& dir);
  void model_failed(const QString& dir, const QString& message);
  // A quantized folder's hqq_report.json, for the Inspect page.
  void report_loaded(const std::vector<hqq::LayerReport>& layers);

 protected:
  void dragEnterEvent(QDragEnterEvent* e) override;
  void dropEvent(QDropEvent* e) override;

 private:
  struct Result;
  void finished();

  Workspace& ws_;
  QSettings& settings_;
  ModelCardWidget* card_ = nullptr;
  QListWidget* recent_ = nullptr;
  QLabel* error_ = nullptr;
  QLabel* status_ = nullptr;
  QPushButton* open_ = nullptr;
  QString current_, pending_;
  bool busy_ = false;  // from open_model() until its result is shown
  QFutureWatcher<std::shared_ptr<Result>> watcher_;
};

}  // namespace hqq::ui
