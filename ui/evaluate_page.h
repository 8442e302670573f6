#pragma once
// The Evaluate page: perplexity of several models (original, quantized, quantized + adapter) on
// the same text, one after the other in a worker, as a table and a bar chart. Results are kept
// as a history between runs (QSettings), so a new quantization can be compared with old ones.
#include <QSettings>
#include <QWidget>

class QCheckBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace hqq::ui {

class Chart;
class JobRunner;
class Workspace;

struct EvalRecord {
  QString when, model, adapter, text;
  int ctx = 0;
  qint64 tokens = 0;
  double ppl = 0, seconds = 0;
  // Fidelity to the opened (full-precision) model on the same tokens; negative: not measured.
  double kl = -1, top1 = -1;
};

class EvaluatePage : public QWidget {
  Q_OBJECT
 public:
  EvaluatePage(Workspace& ws, QSettings& settings, QWidget* parent = nullptr);
  ~EvaluatePage() override;

  void set_text(const QString& file);
  void set_limits(int ctx, int max_tokens);
  void check_all();  // select every model offered
  // Ticks the opened model and `dir` (as is, without an adapter), nothing else.
  void check_with_original(const QString& dir);
  QStringList checked_dirs() const;
  int model_count() const;
  const QList<EvalRecord>& history() const { return history_; }
  QString status_text() const;
  JobRunner* runner() const { return runner_; }

 public Q_SLOTS:
  void start();
  void clear_history();

 private:
  void refresh_models();
  void add_record(const EvalRecord& r);
  void append(const EvalRecord& r);
  void redraw();
  void save_history();

  Workspace& ws_;
  QSettings& settings_;
  JobRunner* runner_;
  QListWidget* models_;
  QLineEdit* text_;
  QSpinBox *ctx_, *max_tokens_;
  QCheckBox* kl_;
  QPushButton *start_, *cancel_;
  QLabel* status_;
  QProgressBar* progress_;
  QTableWidget* table_;
  Chart* chart_;
  QList<EvalRecord> history_;
};

}  // namespace hqq::ui
