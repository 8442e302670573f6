#pragma once
// The Quantize page: a preset or a custom plan (defaults + per-module overrides), the memory
// budget planner, live bits per weight and model size, the output folder, Start / Cancel, and
// the per-layer table filling in as layers finish. The job is core's quantize_checkpoint.
#include <QSettings>
#include <QWidget>

#include "core/quant/budget_planner.h"
#include "core/quant/layer_report.h"

namespace hqq {
struct QuantPlan;
}

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QScrollArea;
class QSpinBox;
class QTableWidget;

namespace hqq::ui {

class JobRunner;
class PlanEditor;
class Workspace;

class QuantizePage : public QWidget {
  Q_OBJECT
 public:
  QuantizePage(Workspace& ws, QSettings& settings, QWidget* parent = nullptr);
  ~QuantizePage() override;

  QuantPlan plan() const;  // what Start would run
  void set_plan(const QuantPlan& p);
  // Plan files in the JSON form of `hqq quantize --plan`; errors go to the status line.
  bool load_plan_file(const QString& path);
  bool save_plan_file(const QString& path);
  void set_preset(const QString& name);
  void refresh_output() { set_default_output(); }  // after the output folder setting changed
  QString preset() const;
  void set_output(const QString& dir);
  // A statistics file of `hqq calibrate`; empty: calibration-free (the default).
  void set_calibration(const QString& file);
  QString calibration() const;
  // lm_head stored at 8 or 4 bits, 0: kept as stored (the default), or kPlannerChooses: the
  // budget planner's last choice (kept until it has planned). lm_head_bits() is the bits the
  // plan gets, the planner's choice where the box leaves it to the planner.
  static constexpr int kPlannerChooses = -1;
  void set_lm_head_bits(int bits);
  int lm_head_bits() const;
  void set_embed_bits(int bits);  // the same for the token embeddings
  int embed_bits() const;
  void set_budget_gb(double gb);
  QString output() const;
  QString size_text() const;
  QString status_text() const;
  int layer_rows() const;
  QString layer_name(int row) const;  // the full name (the cell may show it elided)
  QString kept_text() const;          // what stays in full precision, and its share of the size
  double budget_gb() const;
  QString last_output() const { return last_output_; }  // the last finished quantization
  bool result_actions_visible() const;
  QScrollArea* form_area() const { return form_area_; }
  int planned_layers() const;  // projections the current plan quantizes
  PlanEditor* plan_editor() const { return editor_; }
  JobRunner* runner() const { return runner_; }

 public Q_SLOTS:
  void start();
  void plan_for_budget();
  // What "Plan for budget" measures and chooses from (default: KL on every format); the budget
  // itself comes from the page.
  void set_planner_options(const BudgetOptions& o) { planner_options_ = o; }
  void cancel();

 Q_SIGNALS:
  void quantization_started();
  void layer_done(const hqq::LayerReport& r);
  void quantized(const QString& dir);
  // Every run's end: `done` of `total` layers were quantized (total = what the plan quantizes).
  void quantization_finished(bool complete, bool cancelled, int done, int total);
  // The buttons shown after a quantization.
  void open_requested(const QString& dir);
  void evaluate_requested(const QString& dir);
  void chat_requested(const QString& dir);

 private:
  void update_size();
  void model_changed();
  void save_settings();
  void set_busy(bool busy);
  void set_default_output();

  Workspace& ws_;
  QSettings& settings_;
  JobRunner* runner_ = nullptr;
  QComboBox *preset_, *bits_, *group_, *axis_, *optimizer_;
  // kept / 8-bit / 4-bit / planner's choice (QuantPlan::lm_head_bits, embed_bits)
  QComboBox *lm_head_, *embed_;
  int planned_lm_head_ = 0, planned_embed_ = 0;  // the planner's last choices
  void show_planned(QComboBox* box, int bits);
  QSpinBox* iters_;
  QCheckBox* round_zero_;
  PlanEditor* editor_;
  QDoubleSpinBox* budget_;
  QPushButton *plan_button_, *start_, *cancel_;
  QLineEdit* output_;
  QLineEdit* calibration_;
  QLabel *size_, *kept_, *where_, *status_;
  QWidget* result_row_ = nullptr;
  QScrollArea* form_area_ = nullptr;
  QString shown_model_;  // the model the table and output belong to
  QString last_output_;
  int rows_done_ = 0;
  QProgressBar* progress_;
  QTableWidget* layers_;
  BudgetOptions planner_options_;
};

}  // namespace hqq::ui
