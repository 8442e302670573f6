#pragma once
// The Chat page: streaming replies with the model's chat template, Stop, sampling settings, a
// model selector, and a compare mode in which two models answer the same prompt side by side
// (one after the other, so their tokens/s are comparable). Each side keeps its conversation and
// KV cache between turns; models are loaded in the worker and kept until the selection changes.
#include <QSettings>
#include <QWidget>
#include <memory>

#include "ui/workspace.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QTextBrowser;

namespace hqq::ui {

class JobRunner;

class ChatPage : public QWidget {
  Q_OBJECT
 public:
  ChatPage(Workspace& ws, QSettings& settings, QWidget* parent = nullptr);
  ~ChatPage() override;

  void set_compare(bool on);
  void select_models(int left, int right);  // indexes into the workspace's choices
  void set_sampling(double temperature, int max_tokens, uint64_t seed);
  void set_prompt(const QString& text);
  QString transcript(int side) const;  // plain text of a side's conversation
  QString speed_text(int side) const;
  int model_count() const;
  JobRunner* runner() const { return runner_; }
  void select_model_dir(const QString& dir);  // the first side chats with this model
  QStringList messages(int side) const;       // "role: content" of a side's conversation
  QString status_text(int side) const;

 public Q_SLOTS:
  void send();
  void stop();
  void reset();

 private:
  struct Side;
  void refresh_models();
  void restart(const QString& note);  // a new conversation on both sides
  Side& side(int i) { return *sides_[static_cast<size_t>(i)]; }

  Workspace& ws_;
  QSettings& settings_;
  JobRunner* runner_;
  std::vector<std::unique_ptr<Side>> sides_;
  QCheckBox* compare_;
  QDoubleSpinBox *temperature_, *top_p_;
  QSpinBox *top_k_, *max_tokens_;
  QLineEdit *seed_, *system_;
  QPlainTextEdit* prompt_;
  QPushButton *send_, *stop_, *reset_;
  bool refreshing_ = false;
};

}  // namespace hqq::ui
