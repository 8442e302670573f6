#include "ui/evaluate_page.h"

#include <QCheckBox>
#include <QDateTime>
#include <QDir>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include "core/base/json_file.h"
#include "core/generate/kl_divergence.h"
#include "core/generate/perplexity.h"
#include "core/load/model_loader.h"
#include "core/model/lora.h"
#include "ui/chart.h"
#include "ui/form_fields.h"
#include "ui/job_runner.h"
#include "ui/path_edit.h"
#include "ui/resource_paths.h"
#include "ui/workspace.h"

namespace hqq::ui {

namespace {
constexpr int kMaxHistory = 200;

QTableWidgetItem* cell(const QString& s) {
  auto* it = new QTableWidgetItem(s);
  it->setFlags(it->flags() & ~Qt::ItemIsEditable);
  it->setToolTip(s);
  return it;
}

QString short_label(const EvalRecord& r) {
  QString s = QDir(r.model).dirName();
  if (!r.adapter.isEmpty()) s += " + " + QDir(r.adapter).dirName();
  return s;
}
}  // namespace

EvaluatePage::EvaluatePage(Workspace& ws, QSettings& settings, QWidget* parent)
    : QWidget(parent), ws_(ws), settings_(settings) {
  runner_ = new JobRunner(tr("Evaluation"), this);
  auto* layout = new QHBoxLayout(this);
  auto* split = new QSplitter(this);
  layout->addWidget(split);

  auto* left = new QWidget(split);
  auto* lv = new QVBoxLayout(left);
  lv->addWidget(new QLabel(tr("Models to evaluate"), left));
  models_ = new QListWidget(left);
  models_->setToolTip(
      tr("Tick the models to compare on the same text: the opened model, the "
         "quantized ones and those with an adapter"));
  lv->addWidget(models_, 1);
  auto* form = new QFormLayout;
  text_ = new PathEdit(left);
  text_->setToolTip(tr("Plain-text file to score (held-out text, not the training data)"));
  ctx_ = spin_box(2, 1 << 20, settings_.value("evaluate/ctx", 256).toInt(),
                  tr("Window length: the text is cut into non-overlapping windows of this many "
                     "tokens, each scored on its own (the HQQ/GPTQ papers' method)"));
  max_tokens_ = spin_box(0, 100000000, settings_.value("evaluate/max_tokens", 16384).toInt(),
                         tr("Use only the first N tokens of the text (0: all)"));
  form->addRow(tr("Text"), path_row(text_, false, left));
  form->addRow(tr("Context"), ctx_);
  form->addRow(tr("Max tokens"), max_tokens_);
  kl_ = new QCheckBox(tr("KL divergence and top-1 agreement to the opened model"), left);
  kl_->setToolTip(
      tr("Also run the opened (full-precision) model on the same windows and report how far "
         "each model's next-token distribution is from it: mean KL(original ‖ model) and how "
         "often both pick the same most likely token"));
  kl_->setChecked(settings_.value("evaluate/kl", true).toBool());
  form->addRow(QString(), kl_);
  lv->addLayout(form);
  auto* buttons = new QHBoxLayout;
  start_ = new QPushButton(tr("Evaluate"), left);
  start_->setToolTip(tr("Compute perplexity for each ticked model"));
  cancel_ = new QPushButton(tr("Cancel"), left);
  cancel_->setEnabled(false);
  auto* clear = new QPushButton(tr("Clear history"), left);
  buttons->addWidget(start_);
  buttons->addWidget(cancel_);
  buttons->addWidget(clear);
  lv->addLayout(buttons);
  status_ = new QLabel(left);
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  progress_ = new QProgressBar(left);
  lv->addWidget(status_);
  lv->addWidget(progress_);

  auto* right = new QSplitter(Qt::Vertical, split);
  table_ = new QTableWidget(0, 9, right);
  table_->setHorizontalHeaderLabels({tr("When"), tr("Model"), tr("Adapter"), tr("Perplexity"),
                                     tr("Text"), tr("Context"), tr("Seconds"), tr("KL"),
                                     tr("Top-1 %")});
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->verticalHeader()->hide();
  chart_ = new Chart(right);
  chart_->yAxis->setLabel(tr("perplexity ↓"));
  chart_->setToolTip(tr("The history's perplexities, newest on the right; right-click to export"));
  split->setStretchFactor(1, 2);
  right->setSizes({260, 340});

  const QString samples = sample_data_dir();
  text_->setText(
      settings_.value("evaluate/text", samples.isEmpty() ? QString() : samples + "/eval.txt")
          .toString());
  connect(start_, &QPushButton::clicked, this, &EvaluatePage::start);
  connect(cancel_, &QPushButton::clicked, runner_, &JobRunner::cancel);
  connect(clear, &QPushButton::clicked, this, &EvaluatePage::clear_history);
  connect(&ws_, &Workspace::choices_changed, this, &EvaluatePage::refresh_models);
  connect(runner_, &JobRunner::progress, this,
          [this](const QString&, qint64 done, qint64 total, const QString&) {
            progress_->setRange(0, static_cast<int>(total));
            progress_->setValue(static_cast<int>(done));
          });

  for (const QVariant& v : settings_.value("evaluate/history").toList()) {
    const QJsonObject o = QJsonDocument::fromJson(v.toString().toUtf8()).object();
    EvalRecord r{o["when"].toString(),  o["model"].toString(),   o["adapter"].toString(),
                 o["text"].toString(),  o["ctx"].toInt(),        o["tokens"].toInteger(),
                 o["ppl"].toDouble(),   o["seconds"].toDouble(), o["kl"].toDouble(-1),
                 o["top1"].toDouble(-1)};
    if (r.ppl > 0) append(r);
  }
  redraw();  // once for the whole stored history
  refresh_models();
}

EvaluatePage::~EvaluatePage() {
  runner_->stop_and_wait();  // the job adds rows to this page: it must end first
  settings_.setValue("evaluate/text", text_->text());
  settings_.setValue("evaluate/ctx", ctx_->value());
  settings_.setValue("evaluate/max_tokens", max_tokens_->value());
  settings_.setValue("evaluate/kl", kl_->isChecked());
}

void EvaluatePage::save_history() {
  QVariantList list;
  for (const auto& r : history_) {
    QJsonObject o{{"when", r.when}, {"model", r.model},     {"adapter", r.adapter},
                  {"text", r.text}, {"ctx", r.ctx},         {"tokens", r.tokens},
                  {"ppl", r.ppl},   {"seconds", r.seconds}, {"kl", r.kl},
                  {"top1", r.top1}};
    list << QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact));
  }
  settings_.setValue("evaluate/history", list);
}

void EvaluatePage::set_text(const QString& file) {
  text_->setText(file);
}

void EvaluatePage::set_limits(int ctx, int max_tokens) {
  ctx_->setValue(ctx);
  max_tokens_->setValue(max_tokens);
}

void EvaluatePage::check_all() {
  for (int i = 0; i < models_->count(); ++i) models_->item(i)->setCheckState(Qt::Checked);
}

void EvaluatePage::check_with_original(const QString& dir) {
  for (int i = 0; i < models_->count(); ++i) {
    const QStringList key = models_->item(i)->data(Qt::UserRole).toStringList();
    const bool want =
        key.value(1).isEmpty() && (key.value(0) == dir || key.value(0) == ws_.model_dir());
    models_->item(i)->setCheckState(want ? Qt::Checked : Qt::Unchecked);
  }
}

QStringList EvaluatePage::checked_dirs() const {
  QStringList out;
  for (int i = 0; i < models_->count(); ++i)
    if (models_->item(i)->checkState() == Qt::Checked)
      out << models_->item(i)->data(Qt::UserRole).toStringList().value(0);
  return out;
}

int EvaluatePage::model_count() const {
  return models_->count();
}

QString EvaluatePage::status_text() const {
  return status_->text();
}

void EvaluatePage::refresh_models() {
  QSet<QString> checked;
  for (int i = 0; i < models_->count(); ++i)
    if (models_->item(i)->checkState() == Qt::Checked)
      checked << models_->item(i)->data(Qt::UserRole).toStringList().join('|');
  models_->clear();
  for (const ModelChoice& c : ws_.choices()) {
    auto* item = new QListWidgetItem(c.label, models_);
    const QStringList key{c.dir, c.adapter};
    item->setData(Qt::UserRole, key);
    item->setToolTip(c.adapter.isEmpty() ? c.dir : c.dir + " + " + c.adapter);
    item->setCheckState(checked.contains(key.join('|')) || checked.isEmpty() ? Qt::Checked
                                                                             : Qt::Unchecked);
  }
}

void EvaluatePage::add_record(const EvalRecord& r) {
  append(r);
  table_->scrollToBottom();
  redraw();
}

// One record into the history and its table row (the oldest goes beyond kMaxHistory).
void EvaluatePage::append(const EvalRecord& x) {
  history_.append(x);
  if (history_.size() > kMaxHistory) {
    history_.removeFirst();
    table_->removeRow(0);
  }
  const int row = table_->rowCount();
  table_->insertRow(row);
  // Short names in the cells, full paths in the tooltips.
  auto named = [](const QString& path) {
    auto* it = cell(QFileInfo(path).fileName());
    it->setToolTip(path);
    return it;
  };
  table_->setItem(row, 0, cell(x.when));
  table_->setItem(row, 1, named(x.model));
  table_->setItem(row, 2, named(x.adapter));
  table_->setItem(row, 3, cell(QString::number(x.ppl, 'f', 3)));
  table_->setItem(row, 4, named(x.text));
  table_->setItem(row, 5, cell(QString::number(x.ctx)));
  table_->setItem(row, 6, cell(QString::number(x.seconds, 'f', 1)));
  table_->setItem(row, 7, cell(x.kl < 0 ? QString() : QString::number(x.kl, 'f', 4)));
  table_->setItem(row, 8, cell(x.top1 < 0 ? QString() : QString::number(100 * x.top1, 'f', 1)));
}

void EvaluatePage::redraw() {
  chart_->clearPlottables();
  chart_->clearItems();
  auto* bars = new QCPBars(chart_->xAxis, chart_->yAxis);
  bars->setBrush(series_color(0));
  bars->setPen(QPen(series_color(0).darker(120)));
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  // The last (at most) 12 results: enough to compare, few enough to read the labels.
  const int first = std::max<int>(0, static_cast<int>(history_.size()) - 12);
  double top = 0;
  for (int i = first; i < history_.size(); ++i) {
    bars->addData(i - first, history_[i].ppl);
    ticker->addTick(i - first, short_label(history_[i]));
    top = std::max(top, history_[i].ppl);
    auto* label = new QCPItemText(chart_);  // the value on top of its bar
    label->position->setCoords(i - first, history_[i].ppl);
    label->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
    // KL and top-1 under the perplexity when they were measured.
    const EvalRecord& h = history_[i];
    label->setText(h.kl < 0 ? QString::number(h.ppl, 'f', 2)
                            : QString("%1\nKL %2 · %3 %")
                                  .arg(h.ppl, 0, 'f', 2)
                                  .arg(h.kl, 0, 'f', 3)
                                  .arg(100 * h.top1, 0, 'f', 0));
    label->setColor(palette().color(QPalette::WindowText));
  }
  chart_->xAxis->setTicker(ticker);
  chart_->xAxis->setTickLabelRotation(30);
  chart_->xAxis->setRange(-0.7, std::max(1, static_cast<int>(history_.size()) - first) - 0.3);
  if (history_.isEmpty()) {
    // Nothing to scale by: an axis without numbers and a word on what will appear.
    chart_->yAxis->setRange(0, 1);
    chart_->yAxis->setTickLabels(false);
    auto* empty = new QCPItemText(chart_);
    empty->position->setType(QCPItemPosition::ptAxisRectRatio);
    empty->position->setCoords(0.5, 0.5);
    empty->setText(tr("No results yet: tick models and press Evaluate"));
    empty->setColor(palette().color(QPalette::WindowText));
  } else {
    chart_->yAxis->setTickLabels(true);
    chart_->yAxis->setRange(0, top * 1.2);
  }
  chart_->request_replot();
}

void EvaluatePage::clear_history() {
  history_.clear();
  table_->setRowCount(0);
  redraw();
  save_history();
}

void EvaluatePage::start() {
  if (runner_->running()) return;
  QList<ModelChoice> chosen;
  for (int i = 0; i < models_->count(); ++i) {
    if (models_->item(i)->checkState() != Qt::Checked) continue;
    const QStringList key = models_->item(i)->data(Qt::UserRole).toStringList();
    chosen.append({models_->item(i)->text(), key.value(0), key.value(1)});
  }
  if (chosen.isEmpty() || text_->text().isEmpty()) {
    status_->setText(tr("Tick at least one model and choose a text file."));
    return;
  }
  const std::string text_file = text_->text().toStdString();
  const int ctx = ctx_->value();
  const qint64 max_tokens = max_tokens_->value();
  start_->setEnabled(false);
  cancel_->setEnabled(true);
  disconnect(runner_, &JobRunner::finished, this, nullptr);
  connect(runner_, &JobRunner::finished, this, [this](bool ok, bool cancelled, const QString& e) {
    start_->setEnabled(true);
    cancel_->setEnabled(false);
    save_history();
    status_->setText(ok ? tr("Done.") : cancelled ? tr("Cancelled.") : tr("Failed: %1").arg(e));
  });
  const QString text_q = text_->text();
  const QString reference = kl_->isChecked() ? ws_.model_dir() : QString();
  runner_->start([this, chosen, text_file, text_q, ctx, max_tokens, reference](JobRunner& job) {
    const std::string text = read_text_file(text_file);  // read once: the file names any error
    std::optional<LoadedModel> ref;
    if (!reference.isEmpty()) ref.emplace(load_model(reference.toStdString(), {}, job.context()));
    for (const ModelChoice& c : chosen) {
      job.post([this, c] { status_->setText(tr("Evaluating %1…").arg(c.label)); });
      LoadedModel m = load_model(c.dir.toStdString(), {.adapter = c.adapter.toStdString()},
                                 {.cancel = job.cancel_token()});
      const Tokenizer& tok = m.require_tokenizer();
      std::vector<int64_t> tokens = tok.encode_long(text, true, job.context());
      if (max_tokens > 0 && static_cast<qint64>(tokens.size()) > max_tokens)
        tokens.resize(static_cast<size_t>(max_tokens));
      PerplexityOptions po;
      po.ctx = ctx;
      PerplexityResult r;
      std::optional<KlResult> kl;
      if (ref && ref->config.vocab_size == m.config.vocab_size) {
        LiveReference live(ref->model, first_scored_position(po));
        PerplexityWithKl both = perplexity_with_reference(m.model, tokens, po, live, job.context());
        r = both.ppl;
        kl = both.kl;
      } else {
        r = perplexity(m.model, tokens, po, job.context());
      }
      EvalRecord rec{QDateTime::currentDateTime().toString("yyyy-MM-dd hh:mm"),
                     c.dir,
                     c.adapter,
                     text_q,
                     ctx,
                     r.tokens_scored,
                     r.ppl,
                     r.seconds,
                     kl ? kl->mean_kl : -1.0,
                     kl ? kl->top1 : -1.0};
      job.post([this, rec] { add_record(rec); });
      job.log(tr("Perplexity of %1: %2 over %3 tokens%4")
                  .arg(c.label)
                  .arg(r.ppl, 0, 'f', 3)
                  .arg(r.tokens_scored)
                  .arg(kl ? tr("; KL to the original %1 (99%: %2), top-1 %3 %")
                                .arg(kl->mean_kl, 0, 'f', 5)
                                .arg(kl->kl_p99, 0, 'f', 4)
                                .arg(100 * kl->top1, 0, 'f', 2)
                          : QString()));
    }
  });
}

}  // namespace hqq::ui
