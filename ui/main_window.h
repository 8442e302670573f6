#pragma once
// The main window: a page list on the left, the pages on the right, the Resources and Log docks,
// menus and status bar. It owns the Workspace the pages share and wires pages to each other
// (quantize → inspect, fine-tune → evaluate/chat); geometry, dock layout and the theme are kept
// in QSettings and restored at the next start.
#include <QMainWindow>
#include <QSettings>

class QListWidget;
class QStackedWidget;

namespace hqq::ui {

class ChatPage;
class EvaluatePage;
class FinetunePage;
class InspectPage;
class JobRunner;
class LogDock;
class ModelPage;
class QuantizePage;
class ResourcesDock;
class Workspace;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QSettings& settings, QWidget* parent = nullptr);
  ~MainWindow() override;

  enum Page { kModel, kQuantize, kInspect, kFinetune, kEvaluate, kChat, kPageCount };
  void show_page(Page p);
  QWidget* page(Page p) const;
  ModelPage* model_page() const { return model_page_; }
  QuantizePage* quantize_page() const { return quantize_page_; }
  InspectPage* inspect_page() const { return inspect_page_; }
  FinetunePage* finetune_page() const { return finetune_page_; }
  EvaluatePage* evaluate_page() const { return evaluate_page_; }
  ChatPage* chat_page() const { return chat_page_; }
  ResourcesDock* resources() const { return resources_; }
  LogDock* log() const { return log_; }
  Workspace& workspace() const { return *workspace_; }
  void show_about();
  void set_theme(const QString& name);  // "system", "light", "dark"
  QList<JobRunner*> runners() const;
  // The question asked by the last close with jobs running (empty: none was asked).
  QString last_close_question() const { return last_close_question_; }
  void choose_output_folder();

 protected:
  void closeEvent(QCloseEvent* e) override;
  void resizeEvent(QResizeEvent* e) override;

 private:
  void add_page(QWidget* page, const QString& name, const QString& tooltip);
  void build_menus();
  void save_state();
  void fit_docks();  // the docks give way to the page on a small window
  QSettings& settings_;
  Workspace* workspace_ = nullptr;
  QListWidget* nav_ = nullptr;
  QStackedWidget* pages_ = nullptr;
  ModelPage* model_page_ = nullptr;
  QuantizePage* quantize_page_ = nullptr;
  InspectPage* inspect_page_ = nullptr;
  FinetunePage* finetune_page_ = nullptr;
  EvaluatePage* evaluate_page_ = nullptr;
  ChatPage* chat_page_ = nullptr;
  ResourcesDock* resources_ = nullptr;
  LogDock* log_ = nullptr;
  QString last_close_question_;
};

}  // namespace hqq::ui
