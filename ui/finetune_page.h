#pragma once
// The Fine-tune (HQQ+) page: dataset, LoRA and training settings, Start / Pause / Cancel, and a
// live chart of the raw and smoothed training loss with the held-out perplexity, tokens/s and
// ETA. The job is core's run_finetune, the same as `hqq finetune`.
#include <QSettings>
#include <QWidget>
#include <algorithm>

namespace hqq {
struct TrainEvent;
}

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QScrollArea;
class QSpinBox;
class QCPGraph;

namespace hqq::ui {

class Chart;
class JobRunner;
class Workspace;

class FinetunePage : public QWidget {
  Q_OBJECT
 public:
  FinetunePage(Workspace& ws, QSettings& settings, QWidget* parent = nullptr);
  ~FinetunePage() override;

  void set_model(const QString& dir);  // the frozen model to adapt
  QString model() const;
  void set_data(const QString& file);
  void set_eval(const QString& file);
  void set_output(const QString& dir);
  void set_steps(int steps, int batch, int seq_len, int eval_every);
  int points() const;       // loss points plotted
  int eval_points() const;  // perplexity points plotted
  QString status_text() const;
  const Chart* chart() const { return chart_; }
  JobRunner* runner() const { return runner_; }
  QString output() const;
  QScrollArea* form_area() const { return form_area_; }

 public Q_SLOTS:
  void start();
  void toggle_pause();
  void cancel();

 private:
  void on_event(const TrainEvent& e);
  void add_initial_ppl(double ppl);
  void set_busy(bool busy);
  void save_settings();

  Workspace& ws_;
  QSettings& settings_;
  JobRunner* runner_ = nullptr;
  QLineEdit *model_, *data_, *eval_, *output_, *teacher_;
  QComboBox *format_, *schedule_, *targets_;
  QSpinBox *rank_, *steps_, *batch_, *seq_len_, *eval_every_, *warmup_;
  QDoubleSpinBox *alpha_, *dropout_, *lr_, *distill_;
  QPushButton *start_, *pause_, *cancel_;
  QLabel *status_, *speed_;
  QProgressBar* progress_;
  Chart* chart_;
  QScrollArea* form_area_ = nullptr;
  QCPGraph *raw_ = nullptr, *smooth_ = nullptr, *ppl_ = nullptr;
  double ema_ = 0;
  struct Range {
    double lower = 1e300, upper = -1e300;
    void expand(double v) { lower = std::min(lower, v), upper = std::max(upper, v); }
  };
  Range loss_range_, ppl_range_;
  QString followed_;  // the quantized model last offered by the workspace
};

}  // namespace hqq::ui
