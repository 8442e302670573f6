#include "ui/quantize_page.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QToolButton>
#include <QVBoxLayout>

#include "core/base/atomic_file.h"
#include "core/base/json_file.h"
#include "core/quant/budget_planner.h"
#include "core/quant/plan_size.h"
#include "core/quant/quant_preset.h"
#include "core/quant/quantize_model.h"
#include "ui/form_fields.h"
#include "ui/hqq_tooltips.h"
#include "ui/job_runner.h"
#include "ui/model_card_widget.h"
#include "ui/output_paths.h"
#include "ui/path_edit.h"
#include "ui/plan_editor.h"
#include "ui/workspace.h"

namespace hqq::ui {

namespace {

// "Label [path field] [...]": a path field with its browse button (returned in *browse).
QHBoxLayout* path_row(QWidget* parent, const QString& label, QLineEdit* edit,
                      const QString& browse_tip, QToolButton** browse) {
  auto* row = new QHBoxLayout;
  *browse = new QToolButton(parent);
  (*browse)->setText(QObject::tr("…"));
  (*browse)->setToolTip(browse_tip);
  row->addWidget(new QLabel(label, parent));
  row->addWidget(edit, 1);
  row->addWidget(*browse);
  return row;
}

const int kGroups[] = {8, 16, 32, 64, 128, 256, 0};

QTableWidgetItem* cell(const QString& s) {
  auto* it = new QTableWidgetItem(s);
  it->setFlags(it->flags() & ~Qt::ItemIsEditable);
  it->setToolTip(s);  // the full text where the cell elides it
  return it;
}
}  // namespace

QuantizePage::QuantizePage(Workspace& ws, QSettings& settings, QWidget* parent)
    : QWidget(parent), ws_(ws), settings_(settings) {
  runner_ = new JobRunner(tr("Quantization"), this);
  auto* layout = new QHBoxLayout(this);
  auto* split = new QSplitter(this);
  layout->addWidget(split);

  // Left: what to do. It scrolls rather than squeezing its fields on a small screen.
  form_area_ = new QScrollArea(split);
  form_area_->setWidgetResizable(true);
  form_area_->setFrameShape(QFrame::NoFrame);
  auto* left = new QWidget(form_area_);
  form_area_->setWidget(left);
  auto* lv = new QVBoxLayout(left);
  auto* settings_box = new QGroupBox(tr("Settings"), left);
  auto* form = new QFormLayout(settings_box);
  preset_ = new QComboBox(settings_box);
  for (const auto& p : quant_presets()) preset_->addItem(QString::fromStdString(p.name));
  // Two-level presets: sub-group meta as small integers (docs/FORMATS.md); the tooltip says
  // what each costs, every piece of meta counted.
  for (const auto& p : twolevel_presets()) {
    preset_->addItem(QString::fromStdString(p.name));
    preset_->setItemData(
        preset_->count() - 1,
        tr("%1-bit codes in groups of %2, scale and zero as %3-bit integers "
           "under an fp16 pair per %4 weights%5")
            .arg(p.bits)
            .arg(p.group_size)
            .arg(p.scale_bits)
            .arg(p.super_group)
            .arg(p.mix.empty()
                     ? QString()
                     : tr("; %1-bit g%2 on v_proj and down_proj").arg(p.mix_bits).arg(p.mix_group)),
        Qt::ToolTipRole);
  }
  preset_->addItem(tr("custom"));
  preset_->setToolTip(tr("Common settings; bits, group size and overrides below can refine them"));
  bits_ = new QComboBox(settings_box);
  bits_->addItems({"1", "2", "3", "4", "8"});
  bits_->setToolTip(tips::bits());
  group_ = new QComboBox(settings_box);
  for (int g : kGroups) group_->addItem(g ? QString::number(g) : tr("per channel"), g);
  group_->setToolTip(tips::group_size());
  axis_ = new QComboBox(settings_box);
  axis_->addItems({"0", "1"});
  axis_->setToolTip(tips::axis());
  optimizer_ = new QComboBox(settings_box);
  optimizer_->addItems({"improved", "reference", "off"});
  optimizer_->setToolTip(tips::optimizer());
  iters_ = spin_box(1, 200, 20, tips::iterations());
  round_zero_ = new QCheckBox(tr("Round zero-point"), settings_box);
  round_zero_->setToolTip(tips::round_zero());
  form->addRow(tr("Preset"), preset_);
  form->addRow(tr("Bits"), bits_);
  form->addRow(tr("Group size"), group_);
  form->addRow(tr("Axis"), axis_);
  form->addRow(tr("Optimizer"), optimizer_);
  form->addRow(tr("Iterations"), iters_);
  form->addRow(round_zero_);
  auto matrix_box = [&](const char* name, const QString& tip) {
    auto* c = new QComboBox(settings_box);
    c->setObjectName(name);
    c->addItem(tr("kept as stored"), 0);
    c->addItem(tr("8-bit (group 128)"), 8);
    c->addItem(tr("4-bit (group 64)"), 4);
    c->addItem(tr("chosen by the budget planner"), kPlannerChooses);
    c->setToolTip(tip);
    return c;
  };
  const QString tied =
      tr(" A model with tied embeddings has one matrix for both: set one of the two.");
  embed_ = matrix_box("embed", tr("The token embeddings are most of a small model's file; "
                                  "stored quantized, each token's row is dequantized when it is "
                                  "looked up.") +
                                   tied);
  lm_head_ = matrix_box(
      "lm_head", tr("The output layer is the largest single read of each generated token (131 MB "
                    "in bf16 for a 32k-token vocabulary of a 2048-wide model); 8 bits halve it "
                    "for a small loss.") +
                     tied);
  form->addRow(tr("Embeddings"), embed_);
  form->addRow(tr("lm_head"), lm_head_);
  lv->addWidget(settings_box);

  auto* plan_box = new QGroupBox(tr("Per-module overrides"), left);
  auto* pv = new QVBoxLayout(plan_box);
  editor_ = new PlanEditor(plan_box);
  editor_->setMinimumHeight(110);  // a few rows stay visible when the window is small
  pv->addWidget(editor_);
  auto* budget_row = new QHBoxLayout;
  budget_ = real_box(0.001, 1000, 4, 0.5, 4, tips::budget());
  budget_->setSuffix(" GB");
  plan_button_ = new QPushButton(tr("Plan for budget"), plan_box);
  plan_button_->setToolTip(tips::budget());
  budget_row->addWidget(new QLabel(tr("Memory budget"), plan_box));
  budget_row->addWidget(budget_, 1);
  budget_row->addWidget(plan_button_);
  pv->addLayout(budget_row);
  auto* file_row = new QHBoxLayout;
  auto* load_plan = new QPushButton(tr("Load plan…"), plan_box);
  load_plan->setToolTip(tr("Read a plan JSON (the format of hqq quantize --plan)"));
  auto* save_plan = new QPushButton(tr("Save plan…"), plan_box);
  save_plan->setToolTip(tr("Write these settings as a plan JSON for hqq quantize --plan"));
  file_row->addWidget(load_plan);
  file_row->addWidget(save_plan);
  file_row->addStretch();
  pv->addLayout(file_row);
  connect(load_plan, &QPushButton::clicked, this, [this] {
    const QString f =
        QFileDialog::getOpenFileName(this, tr("Load plan"), QString(), "JSON (*.json)");
    if (!f.isEmpty()) load_plan_file(f);
  });
  connect(save_plan, &QPushButton::clicked, this, [this] {
    const QString f =
        QFileDialog::getSaveFileName(this, tr("Save plan"), "plan.json", "JSON (*.json)");
    if (!f.isEmpty()) save_plan_file(f);
  });
  lv->addWidget(plan_box, 1);

  size_ = new QLabel(left);
  size_->setWordWrap(true);
  size_->setStyleSheet("QLabel { font-weight: bold; }");
  lv->addWidget(size_);
  kept_ = new QLabel(left);
  kept_->setWordWrap(true);
  kept_->setToolTip(
      tr("HQQ quantizes the decoder's linear projections. Token embeddings, lm_head and the "
         "norms keep their stored precision: in a small model they are a large part of the "
         "size, which is why 4-bit is not 4× smaller."));
  lv->addWidget(kept_);
  output_ = new PathEdit(left);
  output_->setObjectName("output");
  output_->setToolTip(
      tr("Folder to create; it is written under a temporary name and renamed "
         "when complete, so a cancelled run leaves nothing behind"));
  QToolButton* browse = nullptr;
  lv->addLayout(path_row(left, tr("Output"), output_, tr("Choose the output folder"), &browse));
  calibration_ = new PathEdit(left);
  calibration_->setObjectName("calibration");
  calibration_->setPlaceholderText(tr("none: calibration-free"));
  calibration_->setToolTip(
      tr("Optional: activation statistics from `hqq calibrate MODEL --text FILE -o FILE`. The "
         "solver then weighs each input channel's error by how strongly it is driven; the "
         "report and the model card say the result is calibrated, and on which text"));
  QToolButton* cal_browse = nullptr;
  lv->addLayout(path_row(left, tr("Calibration"), calibration_,
                         tr("Choose a calibration statistics file"), &cal_browse));
  connect(cal_browse, &QToolButton::clicked, this, [this] {
    const QString f =
        QFileDialog::getOpenFileName(this, tr("Calibration statistics"), calibration_->text(),
                                     tr("Calibration statistics (*.safetensors)"));
    if (!f.isEmpty()) calibration_->setText(f);
  });
  where_ = new QLabel(left);
  where_->setWordWrap(true);
  where_->setEnabled(false);  // a hint, drawn dimmed
  lv->addWidget(where_);
  auto* run_row = new QHBoxLayout;
  start_ = new QPushButton(tr("Start"), left);
  start_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
  start_->setToolTip(tr("Quantize the opened model with this plan (Ctrl+R)"));
  cancel_ = new QPushButton(tr("Cancel"), left);
  cancel_->setToolTip(tr("Stop; nothing is written"));
  cancel_->setEnabled(false);
  run_row->addWidget(start_);
  run_row->addWidget(cancel_);
  lv->addLayout(run_row);
  // What to do with a result: shown once a quantization has finished.
  result_row_ = new QWidget(left);
  auto* rr = new QHBoxLayout(result_row_);
  rr->setContentsMargins(0, 0, 0, 0);
  auto* open_result = new QPushButton(tr("Open"), result_row_);
  open_result->setToolTip(tr("Open the quantized model on the Model page"));
  auto* eval_result = new QPushButton(tr("Evaluate"), result_row_);
  eval_result->setToolTip(tr("Compare its perplexity with the original's"));
  auto* chat_result = new QPushButton(tr("Chat with it"), result_row_);
  chat_result->setToolTip(tr("Talk to the quantized model"));
  rr->addWidget(open_result);
  rr->addWidget(eval_result);
  rr->addWidget(chat_result);
  rr->addStretch();
  result_row_->hide();
  lv->addWidget(result_row_);
  connect(open_result, &QPushButton::clicked, this,
          [this] { Q_EMIT open_requested(last_output_); });
  connect(eval_result, &QPushButton::clicked, this,
          [this] { Q_EMIT evaluate_requested(last_output_); });
  connect(chat_result, &QPushButton::clicked, this,
          [this] { Q_EMIT chat_requested(last_output_); });

  // Right: what happens.
  auto* right = new QWidget(split);
  auto* rv = new QVBoxLayout(right);
  status_ = new QLabel(tr("Open a model on the Model page first."), right);
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  progress_ = new QProgressBar(right);
  layers_ = new QTableWidget(0, 5, right);
  layers_->setHorizontalHeaderLabels(
      {tr("Layer"), tr("Shape"), tr("Bits"), tr("Rel. error"), tr("Time (s)")});
  layers_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  layers_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
  layers_->setWordWrap(false);
  layers_->setTextElideMode(Qt::ElideMiddle);  // model.…layers.3.mlp.up_proj, full name on hover
  layers_->verticalHeader()->hide();
  layers_->setToolTip(tr("Each layer as it finishes; see the Inspect page for charts"));
  rv->addWidget(status_);
  rv->addWidget(progress_);
  rv->addWidget(layers_, 1);
  split->setStretchFactor(1, 2);
  split->setChildrenCollapsible(false);
  fit_form_width(form_area_);
  right->setMinimumWidth(360);  // the layer table stays readable; the form scrolls instead
  split->setSizes({420, 700});

  // Restore the last settings.
  preset_->setCurrentText(settings_.value("quantize/preset", "4bit-g64").toString());
  bits_->setCurrentText(settings_.value("quantize/bits", "4").toString());
  group_->setCurrentIndex(group_->findData(settings_.value("quantize/group", 64).toInt()));
  axis_->setCurrentText(settings_.value("quantize/axis", "1").toString());
  optimizer_->setCurrentText(settings_.value("quantize/optimizer", "improved").toString());
  iters_->setValue(settings_.value("quantize/iters", 20).toInt());
  round_zero_->setChecked(settings_.value("quantize/round_zero", false).toBool());
  set_lm_head_bits(settings_.value("quantize/lm_head_bits", 0).toInt());
  set_embed_bits(settings_.value("quantize/embed_bits", 0).toInt());
  budget_->setValue(settings_.value("quantize/budget_gb", 4.0).toDouble());

  connect(preset_, &QComboBox::currentTextChanged, this, &QuantizePage::set_preset);
  for (QComboBox* c : {bits_, group_}) {
    connect(c, &QComboBox::currentIndexChanged, this, [this] {
      // Bits/group that match no preset make the plan custom.
      QString name =
          QString("%1bit-g%2").arg(bits_->currentText()).arg(group_->currentData().toInt());
      const QSignalBlocker b(preset_);
      preset_->setCurrentIndex(preset_->findText(name) >= 0 ? preset_->findText(name)
                                                            : preset_->count() - 1);
      update_size();
    });
  }
  for (QComboBox* c : {axis_, optimizer_, lm_head_, embed_})
    connect(c, &QComboBox::currentIndexChanged, this, &QuantizePage::update_size);
  connect(editor_, &PlanEditor::changed, this, &QuantizePage::update_size);
  connect(start_, &QPushButton::clicked, this, &QuantizePage::start);
  connect(cancel_, &QPushButton::clicked, this, &QuantizePage::cancel);
  connect(plan_button_, &QPushButton::clicked, this, &QuantizePage::plan_for_budget);
  connect(browse, &QPushButton::clicked, this, [this] {
    QString d = QFileDialog::getSaveFileName(this, tr("Output folder"), output_->text());
    if (d.isEmpty()) return;
    output_->setText(d);
    set_typed_path(settings_, "quantize", ws_.model_dir(), d);
  });
  // A path the user typed is theirs: kept for this model, across reopening it and restarts.
  connect(output_, &QLineEdit::textEdited, this, [this](const QString& t) {
    if (!ws_.model_dir().isEmpty()) set_typed_path(settings_, "quantize", ws_.model_dir(), t);
  });
  connect(runner_, &JobRunner::progress, this,
          [this](const QString&, qint64 done, qint64 total, const QString& msg) {
            progress_->setRange(0, static_cast<int>(total));
            progress_->setValue(static_cast<int>(done));
            status_->setText(msg);
          });
  connect(&ws_, &Workspace::model_changed, this, &QuantizePage::model_changed);
  model_changed();
}

QuantizePage::~QuantizePage() {
  runner_->stop_and_wait();  // the job writes into this page's table: it must end first
  save_settings();
}

void QuantizePage::save_settings() {
  settings_.setValue("quantize/preset", preset_->currentText());
  settings_.setValue("quantize/bits", bits_->currentText());
  settings_.setValue("quantize/group", group_->currentData().toInt());
  settings_.setValue("quantize/axis", axis_->currentText());
  settings_.setValue("quantize/optimizer", optimizer_->currentText());
  settings_.setValue("quantize/iters", iters_->value());
  settings_.setValue("quantize/round_zero", round_zero_->isChecked());
  // The boxes as set ("chosen by the budget planner" stays that), not the bits they stand for.
  settings_.setValue("quantize/lm_head_bits", lm_head_->currentData().toInt());
  settings_.setValue("quantize/embed_bits", embed_->currentData().toInt());
  settings_.setValue("quantize/budget_gb", budget_->value());
}

void QuantizePage::set_preset(const QString& name) {
  for (const auto& p : quant_presets()) {
    if (QString::fromStdString(p.name) != name) continue;
    const QSignalBlocker b1(bits_), b2(group_), b3(preset_);
    preset_->setCurrentText(name);
    bits_->setCurrentText(QString::number(p.bits));
    group_->setCurrentIndex(group_->findData(p.group_size));
  }
  for (const auto& p : twolevel_presets()) {
    if (QString::fromStdString(p.name) != name) continue;
    const QSignalBlocker b1(bits_), b2(group_), b3(preset_), b4(axis_);
    preset_->setCurrentText(name);
    bits_->setCurrentText(QString::number(p.bits));
    group_->setCurrentIndex(group_->findData(p.group_size));
    axis_->setCurrentText("1");  // two-level groups lie along the inputs
  }
  if (!runner_->running()) set_default_output();
  update_size();
}

void QuantizePage::set_default_output() {
  where_->setText(tr("Results of read-only models (such as the demo) go to %1 — File → Output "
                     "folder… changes it.")
                      .arg(QDir::toNativeSeparators(output_root(settings_))));
  if (ws_.model_dir().isEmpty()) return;
  const QString typed = typed_path(settings_, "quantize", ws_.model_dir());
  output_->setText(typed.isEmpty() ? output_path_for(settings_, ws_.model_dir(),
                                                     "-hqq-" + preset_->currentText())
                                   : typed);
}

int QuantizePage::planned_layers() const {
  const auto& info = ws_.model_info();
  if (!info) return 0;
  const QuantPlan p = plan();
  int n = 0;
  for (const auto& m : projection_shapes(info->config))
    if (p.config_for(m.name)) ++n;
  return n;
}

QString QuantizePage::preset() const {
  return preset_->currentText();
}

void QuantizePage::set_output(const QString& dir) {
  output_->setText(dir);
}

void QuantizePage::set_budget_gb(double gb) {
  budget_->setValue(gb);
}

QString QuantizePage::output() const {
  return output_->text();
}

QString QuantizePage::size_text() const {
  return size_->text();
}

QString QuantizePage::status_text() const {
  return status_->text();
}

int QuantizePage::layer_rows() const {
  return layers_->rowCount();
}

QString QuantizePage::layer_name(int row) const {
  auto* it = layers_->item(row, 0);
  return it ? it->toolTip() : QString();
}

QString QuantizePage::kept_text() const {
  return kept_->text();
}

double QuantizePage::budget_gb() const {
  return budget_->value();
}

bool QuantizePage::result_actions_visible() const {
  return !result_row_->isHidden();
}

QuantPlan QuantizePage::plan() const {
  QuantPlan p;
  // A two-level preset brings its format (and its mix) with it; the fields below refine it.
  for (const auto& t : twolevel_presets())
    if (QString::fromStdString(t.name) == preset_->currentText()) p = plan_from_preset(t.name);
  p.defaults.nbits = bits_->currentText().toInt();
  p.defaults.group_size = group_->currentData().toInt();
  p.defaults.axis = axis_->currentText().toInt();
  p.defaults.optimizer = optimizer_from_name(optimizer_->currentText().toStdString());
  p.defaults.iters = iters_->value();
  p.defaults.round_zero = round_zero_->isChecked();
  p.lm_head_bits = lm_head_bits();
  p.embed_bits = embed_bits();
  const std::vector<QuantRule> rules = editor_->rules();
  p.overrides.insert(p.overrides.end(), rules.begin(), rules.end());
  return p;
}

bool QuantizePage::load_plan_file(const QString& path) {
  try {
    const std::string p = path.toStdString();
    set_plan(QuantPlan::from_json(read_json_file(p), p));
    status_->setText(tr("Plan loaded from %1.").arg(path));
    return true;
  } catch (const std::exception& e) {
    status_->setText(tr("Cannot load the plan: %1").arg(QString::fromUtf8(e.what())));
    return false;
  }
}

bool QuantizePage::save_plan_file(const QString& path) {
  try {
    write_file_atomic(path.toStdString(), plan().to_json().dump(2) + "\n");
    status_->setText(tr("Plan saved to %1.").arg(path));
    return true;
  } catch (const std::exception& e) {
    status_->setText(tr("Cannot save the plan: %1").arg(QString::fromUtf8(e.what())));
    return false;
  }
}

void QuantizePage::set_plan(const QuantPlan& p) {
  const QSignalBlocker b1(bits_), b2(group_), b3(preset_);
  bits_->setCurrentText(QString::number(p.defaults.nbits));
  group_->setCurrentIndex(group_->findData(static_cast<int>(p.defaults.group_size)));
  axis_->setCurrentText(QString::number(p.defaults.axis));
  optimizer_->setCurrentText(optimizer_name(p.defaults.optimizer));
  iters_->setValue(p.defaults.iters);
  round_zero_->setChecked(p.defaults.round_zero);
  set_lm_head_bits(p.lm_head_bits);
  set_embed_bits(p.embed_bits);
  QString name = QString("%1bit-g%2").arg(p.defaults.nbits).arg(p.defaults.group_size);
  if (p.defaults.two_level()) {  // a plan exactly as a two-level preset writes it
    name.clear();
    for (const auto& t : twolevel_presets()) {
      const QuantPlan tp = plan_from_preset(t.name);
      if (tp.to_json() == p.to_json()) name = QString::fromStdString(t.name);
    }
  }
  const int preset = preset_->findText(name);
  if (!name.isEmpty() && p.defaults.two_level() && preset >= 0) {
    preset_->setCurrentIndex(preset);
    editor_->set_rules({});
    update_size();
    return;
  }
  std::vector<QuantRule> rules = p.overrides;
  if (p.defaults.two_level()) {  // other two-level defaults: a first rule over every layer
    QuantRule all;
    all.match = "model.layers.*";
    all.axis = 1;
    all.scale_bits = p.defaults.scale_bits;
    all.zero_bits = p.defaults.zero_bits;
    all.super_group = p.defaults.super_group;
    all.rotate = p.defaults.rotate;
    rules.insert(rules.begin(), all);
  }
  preset_->setCurrentIndex(rules.empty() && preset >= 0 ? preset : preset_->count() - 1);
  editor_->set_rules(rules);
  update_size();
}

void QuantizePage::update_size() {
  const auto& info = ws_.model_info();
  kept_->clear();
  if (!info) {
    size_->setText(tr("No model opened."));
    return;
  }
  if (!info->quantization.empty()) {
    size_->setText(tr("This model is already quantized (%1).")
                       .arg(QString::fromStdString(info->quantization)));
    return;
  }
  const PlanSize s = plan_size(*info, plan());
  QString text = tr("%1 bits/weight, meta included · model %2 (from %3)")
                     .arg(s.bits_per_weight, 0, 'f', 3)
                     .arg(human_bytes(s.total_bytes), human_bytes(double(info->weight_bytes)));
  if (s.invalid_layers > 0)
    text += tr(" · %1 layers not divisible by their group size").arg(s.invalid_layers);
  size_->setText(text);
  // Why "4-bit" is not 4× smaller: what is kept as stored, and its share of the result.
  const double kept = double(s.kept_parameters) * kept_bytes_per_parameter(*info);
  if (s.total_bytes > 0)
    kept_->setText(tr("Kept in full precision: %1%2 — %3 parameters, "
                      "%4, %5% of this size. Quantized: %6 parameters, %7.")
                       .arg(QString("%1%2%3")
                                .arg(s.embed_quantized ? QString() : tr("embeddings, "))
                                .arg(s.lm_head_quantized ||
                                             (s.embed_quantized && info->config.tie_word_embeddings)
                                         ? QString()
                                         : tr("lm_head, "))
                                .arg(tr("norms")))
                       .arg(s.kept_parameters >
                                    info->parameters - info->linear_parameters - s.matrix_parameters
                                ? tr(" and skipped layers")
                                : QString())
                       .arg(human_count(double(s.kept_parameters)), human_bytes(kept))
                       .arg(100.0 * kept / s.total_bytes, 0, 'f', 0)
                       .arg(human_count(double(s.quantized_parameters + s.matrix_parameters)),
                            human_bytes(s.total_bytes - kept)));
}

void QuantizePage::model_changed() {
  const bool have = ws_.model_info().has_value();
  const bool quantized = have && !ws_.model_info()->quantization.empty();
  start_->setEnabled(have && !quantized && !runner_->running());
  plan_button_->setEnabled(have && !quantized && !runner_->running());
  if (have && !runner_->running()) {
    // Another model: the table, progress and result buttons described the previous one.
    if (ws_.model_dir() != shown_model_) {
      layers_->setRowCount(0);
      progress_->reset();
      result_row_->hide();
      shown_model_ = ws_.model_dir();
    }
    set_default_output();
    status_->setText(quantized ? tr("This model is already quantized: open the original to "
                                    "quantize it differently.")
                               : tr("Ready to quantize %1.").arg(ws_.model_dir()));
    // A budget to start from: the model's size at 4 bits (group 64), rather than an arbitrary
    // fraction of its weights.
    QuantPlan four;
    four.defaults.nbits = 4;
    four.defaults.group_size = 64;
    const double gb = quantized ? double(ws_.model_info()->weight_bytes) / 1e9
                                : plan_size(*ws_.model_info(), four).total_bytes / 1e9;
    budget_->setValue(std::max(0.001, gb));
  }
  update_size();
}

void QuantizePage::set_calibration(const QString& file) {
  calibration_->setText(file);
}

void QuantizePage::set_lm_head_bits(int bits) {
  const int i = lm_head_->findData(bits);
  lm_head_->setCurrentIndex(i >= 0 ? i : 0);
}

int QuantizePage::lm_head_bits() const {
  const int v = lm_head_->currentData().toInt();
  return v == kPlannerChooses ? planned_lm_head_ : v;
}

void QuantizePage::set_embed_bits(int bits) {
  const int i = embed_->findData(bits);
  embed_->setCurrentIndex(i >= 0 ? i : 0);
}

int QuantizePage::embed_bits() const {
  const int v = embed_->currentData().toInt();
  return v == kPlannerChooses ? planned_embed_ : v;
}

void QuantizePage::show_planned(QComboBox* box, int bits) {
  const int i = box->findData(kPlannerChooses);
  box->setItemText(i, bits ? tr("chosen by the budget planner: %1-bit").arg(bits)
                           : tr("chosen by the budget planner: kept"));
}

QString QuantizePage::calibration() const {
  return calibration_->text().trimmed();
}

void QuantizePage::set_busy(bool busy) {
  start_->setEnabled(!busy);
  plan_button_->setEnabled(!busy);
  cancel_->setEnabled(busy);
}

void QuantizePage::cancel() {
  runner_->cancel();
  status_->setText(tr("Cancelling…"));
}

void QuantizePage::start() {
  if (runner_->running() || ws_.model_dir().isEmpty()) return;
  save_settings();
  QuantizeOptions o;
  o.source = ws_.model_dir().toStdString();
  o.output = output_->text().trimmed().toStdString();
  o.plan = plan();
  o.calibration = calibration_->text().trimmed().toStdString();
  if (o.output.empty()) {
    status_->setText(tr("Choose an output folder."));
    return;
  }
  QDir().mkpath(QFileInfo(output_->text().trimmed()).absolutePath());  // the output root, at first
  layers_->setRowCount(0);
  progress_->setValue(0);
  result_row_->hide();
  rows_done_ = 0;
  shown_model_ = ws_.model_dir();
  set_busy(true);
  Q_EMIT quantization_started();
  const QString out = output_->text().trimmed();
  const QString cal = QFileInfo(calibration_->text().trimmed()).fileName();
  const int total = planned_layers();
  disconnect(runner_, &JobRunner::finished, this, nullptr);
  connect(runner_, &JobRunner::finished, this,
          [this, out, cal, total](bool ok, bool cancelled, const QString& error) {
            set_busy(false);
            if (ok) {
              status_->setText(cal.isEmpty() ? tr("Done: %1").arg(out)
                                             : tr("Done: %1 (calibrated with %2)").arg(out, cal));
              last_output_ = out;
              result_row_->show();
              ws_.add_quantized(out);
              Q_EMIT quantized(out);
            } else {
              status_->setText(cancelled ? tr("Cancelled; nothing was written.")
                                         : tr("Quantization failed: %1").arg(error));
            }
            Q_EMIT quantization_finished(ok, cancelled, rows_done_, total);
          });
  runner_->start([this, o](JobRunner& job) mutable {
    o.on_layer = [this, &job](const LayerReport& r) {
      job.post([this, r] {
        const int row = layers_->rowCount();
        layers_->insertRow(row);
        // "model.layers." is on every row: the cell starts after it ("3.mlp.up_proj"), the
        // tooltip has the full name.
        const QString name = QString::fromStdString(r.name);
        const QString prefix = "model.layers.";
        auto* name_cell = cell(name.startsWith(prefix) ? name.mid(prefix.size()) : name);
        name_cell->setToolTip(name);
        layers_->setItem(row, 0, name_cell);
        layers_->setItem(row, 1, cell(QString("%1×%2").arg(r.shape[0]).arg(r.shape[1])));
        layers_->setItem(row, 2, cell(QString("%1 g%2").arg(r.nbits).arg(r.group_size)));
        layers_->setItem(row, 3, cell(QString::number(r.rel_error, 'f', 4)));
        layers_->setItem(row, 4, cell(QString::number(r.seconds, 'f', 2)));
        layers_->scrollToBottom();
        ++rows_done_;
        Q_EMIT layer_done(r);
      });
    };
    QuantizeSummary s = quantize_checkpoint(o, job.context());
    job.log(tr("Quantized %1 layers to %2 bits/weight: %3 in %4 s")
                .arg(s.layers.size())
                .arg(s.bits_per_weight, 0, 'f', 3)
                .arg(human_bytes(double(s.output_bytes)))
                .arg(s.seconds, 0, 'f', 1));
  });
}

void QuantizePage::plan_for_budget() {
  if (runner_->running() || ws_.model_dir().isEmpty()) return;
  set_busy(true);
  const std::string dir = ws_.model_dir().toStdString();
  const QuantConfig base = plan().defaults;
  BudgetOptions bo = planner_options_;
  bo.total_bytes = budget_->value() * 1e9;
  bo.bits_per_weight.reset();
  // The output matrix and an untied embedding: as the boxes fix them, or, where a box says so,
  // chosen by the planner (BudgetOptions: -1).
  bo.lm_head_bits = lm_head_->currentData().toInt();
  bo.embed_bits = embed_->currentData().toInt();
  auto result = std::make_shared<BudgetPlan>();
  disconnect(runner_, &JobRunner::finished, this, nullptr);
  connect(
      runner_, &JobRunner::finished, this,
      [this, result](bool ok, bool cancelled, const QString& error) {
        set_busy(false);
        if (!ok) {
          status_->setText(cancelled ? tr("Budget planning cancelled.")
                                     : tr("Budget planning failed: %1").arg(error));
          return;
        }
        editor_->set_rules(result->plan.overrides);
        preset_->setCurrentIndex(preset_->count() - 1);  // custom
        // A box the planner chose for stays "chosen by the budget planner" and names the choice.
        if (lm_head_->currentData().toInt() == kPlannerChooses) {
          planned_lm_head_ = result->plan.lm_head_bits;
          show_planned(lm_head_, planned_lm_head_);
        }
        if (embed_->currentData().toInt() == kPlannerChooses) {
          planned_embed_ = result->plan.embed_bits;
          show_planned(embed_, planned_embed_);
        }
        update_size();
        const int head = result->plan.lm_head_bits;
        status_->setText(
            tr("Planned %1 layers at %2 bits/weight, meta included, lm_head %3; predicted %4 %5.")
                .arg(result->layers.size())
                .arg(result->bits_per_weight(), 0, 'f', 3)
                .arg(head ? tr("%1-bit").arg(head) : tr("kept"))
                .arg(result->measure == PlanMeasure::Kl ? tr("KL divergence")
                                                        : tr("squared weight error"))
                .arg(result->total_error, 0, 'g', 4));
      });
  runner_->start([dir, base, bo, result](JobRunner& job) {
    *result = hqq::plan_for_budget(dir, base, bo, job.context());
  });
}

}  // namespace hqq::ui
