#include "ui/finetune_page.h"

#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>

#include "core/base/json_file.h"
#include "core/generate/perplexity.h"
#include "core/load/model_loader.h"
#include "core/train/finetune_job.h"
#include "ui/chart.h"
#include "ui/form_fields.h"
#include "ui/hqq_tooltips.h"
#include "ui/job_runner.h"
#include "ui/output_paths.h"
#include "ui/path_edit.h"
#include "ui/resource_paths.h"
#include "ui/workspace.h"

namespace hqq::ui {

namespace {
QString eta_text(double s) {
  if (s < 90) return QObject::tr("%1 s").arg(s, 0, 'f', 0);
  if (s < 5400) return QObject::tr("%1 min").arg(s / 60, 0, 'f', 1);
  return QObject::tr("%1 h").arg(s / 3600, 0, 'f', 1);
}

}  // namespace

FinetunePage::FinetunePage(Workspace& ws, QSettings& settings, QWidget* parent)
    : QWidget(parent), ws_(ws), settings_(settings) {
  runner_ = new JobRunner(tr("Fine-tuning"), this);
  auto* layout = new QHBoxLayout(this);
  auto* split = new QSplitter(this);
  layout->addWidget(split);

  // The form scrolls rather than squeezing its fields on a small screen.
  form_area_ = new QScrollArea(split);
  form_area_->setWidgetResizable(true);
  form_area_->setFrameShape(QFrame::NoFrame);
  auto* left = new QWidget(form_area_);
  form_area_->setWidget(left);
  auto* lv = new QVBoxLayout(left);
  auto* data_box = new QGroupBox(tr("Model and data"), left);
  auto* df = new QFormLayout(data_box);
  model_ = new PathEdit(data_box);
  model_->setToolTip(tr("The frozen model the adapter is trained on: the quantized one for HQQ+"));
  data_ = new PathEdit(data_box);
  data_->setToolTip(
      tr("Training text: plain text, JSONL with a \"text\" field, or chat JSONL "
         "with \"messages\" (loss on the assistant's tokens only)"));
  format_ = new QComboBox(data_box);
  format_->addItems({"auto", "text", "jsonl", "chat"});
  format_->setToolTip(tr("Data format (auto: by extension and content)"));
  eval_ = new PathEdit(data_box);
  eval_->setToolTip(tr("Held-out plain text for the perplexity curve (optional)"));
  output_ = new PathEdit(data_box);
  output_->setToolTip(
      tr("Adapter folder to write (PEFT format: adapter_config.json, "
         "adapter_model.safetensors)"));
  df->addRow(tr("Model"), path_row(model_, true, data_box));
  df->addRow(tr("Dataset"), path_row(data_, false, data_box));
  df->addRow(tr("Format"), format_);
  df->addRow(tr("Eval text"), path_row(eval_, false, data_box));
  df->addRow(tr("Adapter"), path_row(output_, true, data_box));
  // Distillation (HQQ+ aimed at the full-precision model): its next-token distribution is the
  // target instead of, or mixed with, the text's next token.
  teacher_ = new QLineEdit(data_box);
  teacher_->setToolTip(
      tr("Full-precision model to distil from (optional): the adapter learns its next-token "
         "distribution on the same batches; it is held in memory beside the trained model"));
  distill_ = real_box(0, 1, 1, 0.1, 2,
                      tr("With a teacher: loss = (1 − w)·cross-entropy + w·KL to the teacher"));
  df->addRow(tr("Teacher"), path_row(teacher_, true, data_box));
  df->addRow(tr("Distil weight"), distill_);
  lv->addWidget(data_box);

  auto* hp = new QGroupBox(tr("LoRA and training"), left);
  auto* hf = new QFormLayout(hp);
  rank_ = spin_box(1, 1024, 16, tips::lora_rank());
  alpha_ = real_box(0.1, 4096, 16, 1, 2, tips::lora_alpha());
  dropout_ = real_box(0, 0.9, 0, 0.05, 2, tr("Dropout on the adapter's input during training"));
  targets_ = new QComboBox(hp);
  targets_->addItems({tr("all projections"), tr("attention only"), tr("MLP only")});
  targets_->setToolTip(tr("Which projections get an adapter"));
  lr_ = real_box(1e-6, 1, 1e-3, 1e-4, 6, tr("Peak learning rate (AdamW)"));
  schedule_ = new QComboBox(hp);
  schedule_->addItems({"cosine", "linear", "constant"});
  schedule_->setToolTip(tr("How the learning rate decays after warm-up"));
  steps_ = spin_box(1, 1000000, 200, tr("Optimizer steps"));
  warmup_ = spin_box(0, 100000, 20, tr("Steps of linear learning-rate warm-up"));
  batch_ = spin_box(1, 1024, 8, tr("Sequences per step"));
  seq_len_ = spin_box(8, 32768, 128, tr("Tokens per training sequence"));
  eval_every_ =
      spin_box(0, 100000, 20, tr("Evaluate held-out perplexity every N steps (0: never)"));
  hf->addRow(tr("Rank"), rank_);
  hf->addRow(tr("Alpha"), alpha_);
  hf->addRow(tr("Dropout"), dropout_);
  hf->addRow(tr("Targets"), targets_);
  hf->addRow(tr("Learning rate"), lr_);
  hf->addRow(tr("Schedule"), schedule_);
  hf->addRow(tr("Steps"), steps_);
  hf->addRow(tr("Warm-up"), warmup_);
  hf->addRow(tr("Batch"), batch_);
  hf->addRow(tr("Sequence length"), seq_len_);
  hf->addRow(tr("Eval every"), eval_every_);
  lv->addWidget(hp);
  auto* buttons = new QHBoxLayout;
  start_ = new QPushButton(tr("Start"), left);
  start_->setToolTip(tr("Train the adapter"));
  pause_ = new QPushButton(tr("Pause"), left);
  pause_->setToolTip(tr("Pause after the current step; press again to resume"));
  cancel_ = new QPushButton(tr("Cancel"), left);
  cancel_->setToolTip(tr("Stop; the last checkpoint stays in the adapter folder's checkpoint/"));
  buttons->addWidget(start_);
  buttons->addWidget(pause_);
  buttons->addWidget(cancel_);
  lv->addLayout(buttons);
  lv->addStretch();

  auto* right = new QWidget(split);
  auto* rv = new QVBoxLayout(right);
  status_ = new QLabel(tr("Choose a dataset and press Start."), right);
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  speed_ = new QLabel(right);
  progress_ = new QProgressBar(right);
  chart_ = new Chart(right);
  chart_->xAxis->setLabel(tr("step"));
  chart_->yAxis->setLabel(tr("training loss"));
  chart_->yAxis2->setLabel(tr("held-out perplexity"));
  chart_->yAxis2->setVisible(true);
  chart_->legend->setVisible(true);
  raw_ = chart_->addGraph();
  raw_->setName(tr("loss"));
  QColor c = series_color(0);
  c.setAlpha(90);
  raw_->setPen(QPen(c));
  smooth_ = chart_->addGraph();
  smooth_->setName(tr("loss (smoothed)"));
  smooth_->setPen(QPen(series_color(0), 2));
  ppl_ = chart_->addGraph(chart_->xAxis, chart_->yAxis2);
  ppl_->setName(tr("perplexity"));
  ppl_->setPen(QPen(series_color(1), 2));
  ppl_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 6));
  rv->addWidget(status_);
  rv->addWidget(speed_);
  rv->addWidget(progress_);
  rv->addWidget(chart_, 1);
  split->setStretchFactor(1, 2);
  split->setChildrenCollapsible(false);
  fit_form_width(form_area_);

  model_->setText(settings_.value("finetune/model").toString());
  const QString samples = sample_data_dir();  // first start: the sample data is ready to use
  data_->setText(
      settings_.value("finetune/data", samples.isEmpty() ? QString() : samples + "/finetune.txt")
          .toString());
  eval_->setText(
      settings_.value("finetune/eval", samples.isEmpty() ? QString() : samples + "/eval.txt")
          .toString());
  output_->setText(settings_.value("finetune/output").toString());
  teacher_->setText(settings_.value("finetune/teacher").toString());
  distill_->setValue(settings_.value("finetune/distill_weight", 1.0).toDouble());
  rank_->setValue(settings_.value("finetune/rank", 16).toInt());
  alpha_->setValue(settings_.value("finetune/alpha", 16.0).toDouble());
  lr_->setValue(settings_.value("finetune/lr", 1e-3).toDouble());
  steps_->setValue(settings_.value("finetune/steps", 200).toInt());
  batch_->setValue(settings_.value("finetune/batch", 8).toInt());
  seq_len_->setValue(settings_.value("finetune/seq_len", 128).toInt());

  // A folder the user typed for a model's adapter is kept for that model.
  connect(output_, &QLineEdit::textEdited, this, [this](const QString& t) {
    if (!model_->text().isEmpty()) set_typed_path(settings_, "adapter", model_->text(), t);
  });
  connect(start_, &QPushButton::clicked, this, &FinetunePage::start);
  connect(pause_, &QPushButton::clicked, this, &FinetunePage::toggle_pause);
  connect(cancel_, &QPushButton::clicked, this, &FinetunePage::cancel);
  connect(&ws_, &Workspace::choices_changed, this, [this] {
    // Follow the newest quantized model: that is what HQQ+ trains on; before there is one, the
    // opened model (LoRA on a full-precision model works too).
    const QString q = ws_.last_quantized().isEmpty() ? ws_.model_dir() : ws_.last_quantized();
    if (q.isEmpty() || q == followed_ || runner_->running()) return;
    followed_ = q;
    set_model(q);
  });
  set_busy(false);
}

FinetunePage::~FinetunePage() {
  runner_->stop_and_wait();  // the job posts into this page's chart: it must end first
  save_settings();
}

void FinetunePage::save_settings() {
  settings_.setValue("finetune/model", model_->text());
  settings_.setValue("finetune/data", data_->text());
  settings_.setValue("finetune/eval", eval_->text());
  settings_.setValue("finetune/output", output_->text());
  settings_.setValue("finetune/teacher", teacher_->text());
  settings_.setValue("finetune/distill_weight", distill_->value());
  settings_.setValue("finetune/rank", rank_->value());
  settings_.setValue("finetune/alpha", alpha_->value());
  settings_.setValue("finetune/lr", lr_->value());
  settings_.setValue("finetune/steps", steps_->value());
  settings_.setValue("finetune/batch", batch_->value());
  settings_.setValue("finetune/seq_len", seq_len_->value());
}

void FinetunePage::set_model(const QString& dir) {
  model_->setText(dir);
  const QString typed = typed_path(settings_, "adapter", dir);
  output_->setText(typed.isEmpty() ? output_path_for(settings_, dir, "-adapter") : typed);
}
QString FinetunePage::output() const {
  return output_->text();
}
QString FinetunePage::model() const {
  return model_->text();
}
void FinetunePage::set_data(const QString& file) {
  data_->setText(file);
}
void FinetunePage::set_eval(const QString& file) {
  eval_->setText(file);
}
void FinetunePage::set_output(const QString& dir) {
  output_->setText(dir);
}
void FinetunePage::set_steps(int steps, int batch, int seq_len, int eval_every) {
  steps_->setValue(steps);
  batch_->setValue(batch);
  seq_len_->setValue(seq_len);
  eval_every_->setValue(eval_every);
  warmup_->setValue(std::min(warmup_->value(), steps / 2));
}
int FinetunePage::points() const {
  return raw_->data()->size();
}
int FinetunePage::eval_points() const {
  return ppl_->data()->size();
}
QString FinetunePage::status_text() const {
  return status_->text();
}

void FinetunePage::set_busy(bool busy) {
  start_->setEnabled(!busy);
  pause_->setEnabled(busy);
  cancel_->setEnabled(busy);
  pause_->setText(tr("Pause"));
}

void FinetunePage::toggle_pause() {
  if (!runner_->running()) return;
  const bool pause = !runner_->paused();
  runner_->set_paused(pause);
  pause_->setText(pause ? tr("Resume") : tr("Pause"));
  status_->setText(pause ? tr("Paused after the current step.") : tr("Training…"));
}

void FinetunePage::cancel() {
  runner_->cancel();
  status_->setText(tr("Cancelling after the current step…"));
}

void FinetunePage::start() {
  if (runner_->running()) return;
  if (model_->text().isEmpty() || data_->text().isEmpty() || output_->text().isEmpty()) {
    status_->setText(tr("Choose a model, a dataset and an adapter folder."));
    return;
  }
  save_settings();
  QDir().mkpath(QFileInfo(output_->text()).absolutePath());  // the output root, at first
  FinetuneOptions o;
  o.model = model_->text().toStdString();
  o.output = output_->text().toStdString();
  o.data = {data_->text().toStdString()};
  o.format = data_format_from_name(format_->currentText().toStdString());
  o.eval_text = eval_->text().toStdString();
  o.seq_len = seq_len_->value();
  o.train.steps = steps_->value();
  o.train.batch_size = batch_->value();
  o.train.lr = lr_->value();
  o.train.schedule = schedule_->currentText().toStdString();
  o.train.warmup_steps = warmup_->value();
  o.train.eval_every = eval_->text().isEmpty() ? 0 : eval_every_->value();
  o.train.adamw.weight_decay = 0.0;
  o.lora.r = rank_->value();
  o.lora.alpha = alpha_->value();
  o.lora.dropout = dropout_->value();
  if (targets_->currentIndex() == 1) o.lora.target_modules = {"self_attn"};
  if (targets_->currentIndex() == 2) o.lora.target_modules = {"mlp"};
  o.teacher = teacher_->text().toStdString();
  o.train.distill_weight = o.teacher.empty() ? 0.0 : distill_->value();
  raw_->data()->clear();
  smooth_->data()->clear();
  ppl_->data()->clear();
  chart_->request_replot();
  ema_ = 0;
  loss_range_ = ppl_range_ = Range{};
  progress_->setRange(0, steps_->value());
  progress_->setValue(0);
  status_->setText(tr("Loading the model and the data…"));
  set_busy(true);
  const QString base = model_->text(), out = output_->text();
  disconnect(runner_, &JobRunner::finished, this, nullptr);
  connect(runner_, &JobRunner::finished, this,
          [this, base, out](bool ok, bool cancelled, const QString& error) {
            set_busy(false);
            if (ok) {
              status_->setText(tr("Done: adapter saved in %1").arg(out));
              ws_.add_adapter(out, base);
            } else {
              status_->setText(
                  cancelled ? tr("Cancelled; the last checkpoint is in %1/checkpoint").arg(out)
                            : tr("Fine-tuning failed: %1").arg(error));
            }
          });
  runner_->start([this, o](JobRunner& job) {
    // The held-out perplexity before any training (the adapter starts as a no-op, so this is the
    // frozen model's), so the curve shows where training started from.
    if (!o.eval_text.empty() && o.train.eval_every > 0) {
      job.post(
          [this] { status_->setText(tr("Measuring the held-out perplexity before step 1…")); });
      const LoadedModel m =
          load_model(o.model, {.dtype = o.compute_dtype}, {.cancel = job.cancel_token()});
      std::vector<int64_t> toks = m.require_tokenizer().encode_long(
          read_text_file(o.eval_text.string()), true, {.cancel = job.cancel_token()});
      if (o.train.eval_max_tokens > 0 &&
          static_cast<int64_t>(toks.size()) > o.train.eval_max_tokens)
        toks.resize(static_cast<size_t>(o.train.eval_max_tokens));
      if (toks.size() >= 2) {
        PerplexityOptions p;
        p.ctx = std::min<int64_t>(o.seq_len, static_cast<int64_t>(toks.size()));
        p.batch = 4;
        const double ppl = perplexity(m.model, toks, p, {.cancel = job.cancel_token()}).ppl;
        job.post([this, ppl] { add_initial_ppl(ppl); });
      }
    }
    run_finetune(
        o, [this, &job](const TrainEvent& e) { job.post([this, e] { on_event(e); }); },
        job.context(),
        [this, &job](const FinetuneSummary& s) {
          job.post([this, s] {
            status_->setText(tr("Training %1 adapter parameters on %2 tokens…")
                                 .arg(s.trainable_parameters)
                                 .arg(s.data_tokens));
          });
        });
  });
}

void FinetunePage::add_initial_ppl(double ppl) {
  ppl_->addData(0, ppl);
  ppl_range_.expand(ppl);
  chart_->xAxis->setRange(0, steps_->value());
  chart_->yAxis2->setRange(ppl_range_.lower * 0.9, ppl_range_.upper * 1.1);
  chart_->request_replot();
  status_->setText(tr("Held-out perplexity before training: %1").arg(ppl, 0, 'f', 2));
}

void FinetunePage::on_event(const TrainEvent& e) {
  // Exponential moving average, bias-corrected so the first points are not pulled to zero.
  const double k = 0.9;
  ema_ = k * ema_ + (1 - k) * e.loss;
  const double smooth = ema_ / (1 - std::pow(k, static_cast<double>(raw_->data()->size() + 1)));
  raw_->addData(static_cast<double>(e.step), e.loss);
  smooth_->addData(static_cast<double>(e.step), smooth);
  if (e.eval_ppl) ppl_->addData(static_cast<double>(e.step), *e.eval_ppl);
  chart_->xAxis->setRange(0, static_cast<double>(e.steps));
  // Ranges grow with each point (a scan of every point per step would be quadratic in a run).
  loss_range_.expand(e.loss);
  chart_->yAxis->setRange(std::max(0.0, loss_range_.lower * 0.95), loss_range_.upper * 1.05);
  if (e.eval_ppl) {
    ppl_range_.expand(*e.eval_ppl);
    chart_->yAxis2->setRange(ppl_range_.lower * 0.9, ppl_range_.upper * 1.1);
  }
  chart_->request_replot();
  progress_->setValue(static_cast<int>(e.step));
  if (!runner_->paused())
    status_->setText(
        tr("Step %1 / %2 · loss %3%4%5")
            .arg(e.step)
            .arg(e.steps)
            .arg(e.loss, 0, 'f', 4)
            .arg(e.eval_ppl ? tr(" · perplexity %1").arg(*e.eval_ppl, 0, 'f', 2) : QString())
            .arg(e.eval_kl ? tr(" · KL to the teacher %1").arg(*e.eval_kl, 0, 'f', 4) : QString()));
  speed_->setText(tr("%1 tokens/s · ETA %2 · lr %3%4")
                      .arg(e.tokens_per_second, 0, 'f', 0)
                      .arg(eta_text(e.eta_seconds))
                      .arg(e.lr, 0, 'g', 3)
                      .arg(e.distill_kl ? tr(" · teacher %1 MiB, %2 s")
                                              .arg(e.teacher_bytes / 1048576.0, 0, 'f', 1)
                                              .arg(e.teacher_seconds, 0, 'f', 1)
                                        : QString()));
}

}  // namespace hqq::ui
