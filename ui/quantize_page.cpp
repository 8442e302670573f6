#include "ui/quantize_page.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include "core/quant/budget_planner.h"
#include "core/base/json_file.h"
#include "core/quant/plan_size.h"
#include "core/quant/quant_preset.h"
#include "core/quant/quantize_model.h"
#include "core/base/atomic_file.h"
#include "ui/form_fields.h"
#include "ui/hqq_tooltips.h"
#include "ui/job_runner.h"
#include "ui/model_card_widget.h"
#include "ui/plan_editor.h"
#include "ui/workspace.h"

namespace hqq::ui {

namespace {
const int kGroups[] = {8, 16, 32, 64, 128, 256, 0};

QTableWidgetItem* cell(const QString& s) {
  auto* it = new QTableWidgetItem(s);
  it->setFlags(it->flags() & ~Qt::ItemIsEditable);
  return it;
}
}  // namespace

QuantizePage::QuantizePage(Workspace& ws, QSettings& settings, QWidget* parent)
    : QWidget(parent), ws_(ws), settings_(settings) {
  runner_ = new JobRunner(tr("Quantization"), this);
  auto* layout = new QHBoxLayout(this);
  auto* split = new QSplitter(this);
  layout->addWidget(split);

  // Left: what to do.
  auto* left = new QWidget(split);
  auto* lv = new QVBoxLayout(left);
  auto* settings_box = new QGroupBox(tr("Settings"), left);
  auto* form = new QFormLayout(settings_box);
  preset_ = new QComboBox(settings_box);
  for (const auto& p : quant_presets()) preset_->addItem(QString::fromStdString(p.name));
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
  lv->addWidget(settings_box);

  auto* plan_box = new QGroupBox(tr("Per-module overrides"), left);
  auto* pv = new QVBoxLayout(plan_box);
  editor_ = new PlanEditor(plan_box);
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
  auto* out_row = new QHBoxLayout;
  output_ = new QLineEdit(left);
  output_->setToolTip(
      tr("Folder to create; it is written under a temporary name and renamed "
         "when complete, so a cancelled run leaves nothing behind"));
  auto* browse = new QPushButton(tr("…"), left);
  browse->setToolTip(tr("Choose the output folder"));
  out_row->addWidget(new QLabel(tr("Output"), left));
  out_row->addWidget(output_, 1);
  out_row->addWidget(browse);
  lv->addLayout(out_row);
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

  // Right: what happens.
  auto* right = new QWidget(split);
  auto* rv = new QVBoxLayout(right);
  status_ = new QLabel(tr("Open a model on the Model page first."), right);
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  progress_ = new QProgressBar(right);
  layers_ = new QTableWidget(0, 6, right);
  layers_->setHorizontalHeaderLabels(
      {tr("Layer"), tr("Shape"), tr("Bits"), tr("Group"), tr("Rel. error"), tr("Time (s)")});
  layers_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  layers_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
  layers_->setWordWrap(false);
  layers_->verticalHeader()->hide();
  layers_->setToolTip(tr("Each layer as it finishes; see the Inspect page for charts"));
  rv->addWidget(status_);
  rv->addWidget(progress_);
  rv->addWidget(layers_, 1);
  split->setStretchFactor(1, 2);
  split->setSizes({520, 760});

  // Restore the last settings.
  preset_->setCurrentText(settings_.value("quantize/preset", "4bit-g64").toString());
  bits_->setCurrentText(settings_.value("quantize/bits", "4").toString());
  group_->setCurrentIndex(group_->findData(settings_.value("quantize/group", 64).toInt()));
  axis_->setCurrentText(settings_.value("quantize/axis", "1").toString());
  optimizer_->setCurrentText(settings_.value("quantize/optimizer", "improved").toString());
  iters_->setValue(settings_.value("quantize/iters", 20).toInt());
  round_zero_->setChecked(settings_.value("quantize/round_zero", false).toBool());
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
  for (QComboBox* c : {axis_, optimizer_})
    connect(c, &QComboBox::currentIndexChanged, this, &QuantizePage::update_size);
  connect(editor_, &PlanEditor::changed, this, &QuantizePage::update_size);
  connect(start_, &QPushButton::clicked, this, &QuantizePage::start);
  connect(cancel_, &QPushButton::clicked, this, &QuantizePage::cancel);
  connect(plan_button_, &QPushButton::clicked, this, &QuantizePage::plan_for_budget);
  connect(browse, &QPushButton::clicked, this, [this] {
    QString d = QFileDialog::getSaveFileName(this, tr("Output folder"), output_->text());
    if (!d.isEmpty()) output_->setText(d);
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
  if (!ws_.model_dir().isEmpty() && !runner_->running())
    output_->setText(ws_.model_dir() + "-hqq-" + preset_->currentText());
  update_size();
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

QuantPlan QuantizePage::plan() const {
  QuantPlan p;
  p.defaults.nbits = bits_->currentText().toInt();
  p.defaults.group_size = group_->currentData().toInt();
  p.defaults.axis = axis_->currentText().toInt();
  p.defaults.optimizer = optimizer_from_name(optimizer_->currentText().toStdString());
  p.defaults.iters = iters_->value();
  p.defaults.round_zero = round_zero_->isChecked();
  p.overrides = editor_->rules();
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
  const QString name = QString("%1bit-g%2").arg(p.defaults.nbits).arg(p.defaults.group_size);
  const int preset = preset_->findText(name);
  preset_->setCurrentIndex(p.overrides.empty() && preset >= 0 ? preset : preset_->count() - 1);
  editor_->set_rules(p.overrides);
  update_size();
}

void QuantizePage::update_size() {
  const auto& info = ws_.model_info();
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
  QString text = tr("%1 bits/weight · model %2 (from %3)")
                     .arg(s.bits_per_weight, 0, 'f', 3)
                     .arg(human_bytes(s.total_bytes), human_bytes(double(info->weight_bytes)));
  if (s.invalid_layers > 0)
    text += tr(" · %1 layers not divisible by their group size").arg(s.invalid_layers);
  size_->setText(text);
}

void QuantizePage::model_changed() {
  const bool have = ws_.model_info().has_value();
  const bool quantized = have && !ws_.model_info()->quantization.empty();
  start_->setEnabled(have && !quantized && !runner_->running());
  plan_button_->setEnabled(have && !quantized && !runner_->running());
  if (have) {
    output_->setText(ws_.model_dir() + "-hqq-" + preset_->currentText());
    status_->setText(quantized ? tr("This model is already quantized: open the original to "
                                    "quantize it differently.")
                               : tr("Ready to quantize %1.").arg(ws_.model_dir()));
    budget_->setValue(std::max(0.001, 0.3 * double(ws_.model_info()->weight_bytes) / 1e9));
  }
  update_size();
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
  if (o.output.empty()) {
    status_->setText(tr("Choose an output folder."));
    return;
  }
  layers_->setRowCount(0);
  progress_->setValue(0);
  set_busy(true);
  Q_EMIT quantization_started();
  const QString out = output_->text().trimmed();
  disconnect(runner_, &JobRunner::finished, this, nullptr);
  connect(runner_, &JobRunner::finished, this,
          [this, out](bool ok, bool cancelled, const QString& error) {
            set_busy(false);
            if (ok) {
              status_->setText(tr("Done: %1").arg(out));
              ws_.add_quantized(out);
              Q_EMIT quantized(out);
            } else {
              status_->setText(cancelled ? tr("Cancelled; nothing was written.")
                                         : tr("Quantization failed: %1").arg(error));
            }
          });
  runner_->start([this, o](JobRunner& job) mutable {
    o.on_layer = [this, &job](const LayerReport& r) {
      job.post([this, r] {
        const int row = layers_->rowCount();
        layers_->insertRow(row);
        layers_->setItem(row, 0, cell(QString::fromStdString(r.name)));
        layers_->setItem(row, 1, cell(QString("%1×%2").arg(r.shape[0]).arg(r.shape[1])));
        layers_->setItem(row, 2, cell(QString::number(r.nbits)));
        layers_->setItem(row, 3, cell(QString::number(r.group_size)));
        layers_->setItem(row, 4, cell(QString::number(r.rel_error, 'f', 4)));
        layers_->setItem(row, 5, cell(QString::number(r.seconds, 'f', 2)));
        layers_->scrollToBottom();
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
  BudgetOptions bo;
  bo.total_bytes = budget_->value() * 1e9;
  auto result = std::make_shared<BudgetPlan>();
  disconnect(runner_, &JobRunner::finished, this, nullptr);
  connect(runner_, &JobRunner::finished, this,
          [this, result](bool ok, bool cancelled, const QString& error) {
    set_busy(false);
    if (!ok) {
      status_->setText(cancelled ? tr("Budget planning cancelled.")
                                 : tr("Budget planning failed: %1").arg(error));
      return;
    }
    editor_->set_rules(result->plan.overrides);
    preset_->setCurrentIndex(preset_->count() - 1);  // custom
    status_->setText(tr("Planned %1 layers at %2 bits/weight; total estimated error %3.")
                         .arg(result->layers.size())
                         .arg(result->bits_per_weight(), 0, 'f', 3)
                         .arg(result->total_error, 0, 'g', 4));
  });
  runner_->start([dir, base, bo, result](JobRunner& job) {
    *result = hqq::plan_for_budget(dir, base, bo, job.context());
  });
}

}  // namespace hqq::ui
