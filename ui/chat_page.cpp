#include "ui/chat_page.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QShortcut>
#include <QSpinBox>
#include <QSplitter>
#include <QTextBrowser>
#include <QVBoxLayout>

#include "core/generate/chat_session.h"
#include "core/load/model_loader.h"
#include "core/model/lora.h"
#include "ui/form_fields.h"
#include "ui/job_runner.h"

namespace hqq::ui {

// One model's column. `loaded` and `session` belong to the worker while a job runs.
struct ChatPage::Side {
  QWidget* box = nullptr;
  QComboBox* model = nullptr;
  QTextBrowser* view = nullptr;
  QLabel* speed = nullptr;
  ModelChoice loaded_choice;
  std::unique_ptr<LoadedModel> loaded;
  std::unique_ptr<ChatSession> session;
  QString system;  // the system message the session was given

  void append_html(const QString& html) {
    view->moveCursor(QTextCursor::End);
    view->insertHtml(html);
    view->moveCursor(QTextCursor::End);
  }
  void append_text(const QString& text) {
    view->moveCursor(QTextCursor::End);
    view->insertPlainText(text);
    view->ensureCursorVisible();
  }
};

ChatPage::ChatPage(Workspace& ws, QSettings& settings, QWidget* parent)
    : QWidget(parent), ws_(ws), settings_(settings) {
  runner_ = new JobRunner(tr("Chat"), this);
  auto* layout = new QHBoxLayout(this);
  auto* split = new QSplitter(this);
  layout->addWidget(split);

  auto* conv = new QWidget(split);
  auto* cv = new QVBoxLayout(conv);
  auto* sides_row = new QHBoxLayout;
  for (int i = 0; i < 2; ++i) {
    auto s = std::make_unique<Side>();
    s->box = new QWidget(conv);
    auto* v = new QVBoxLayout(s->box);
    v->setContentsMargins(0, 0, 0, 0);
    s->model = new QComboBox(s->box);
    s->model->setToolTip(i == 0 ? tr("The model to chat with")
                                : tr("The second model, answering the same prompts"));
    s->view = new QTextBrowser(s->box);
    s->view->setOpenLinks(false);
    s->speed = new QLabel(s->box);
    v->addWidget(s->model);
    v->addWidget(s->view, 1);
    v->addWidget(s->speed);
    sides_row->addWidget(s->box, 1);
    sides_.push_back(std::move(s));
  }
  cv->addLayout(sides_row, 1);
  prompt_ = new QPlainTextEdit(conv);
  prompt_->setPlaceholderText(tr("Type a message; Ctrl+Enter sends, Esc stops"));
  prompt_->setMaximumHeight(90);
  cv->addWidget(prompt_);
  auto* buttons = new QHBoxLayout;
  send_ = new QPushButton(tr("Send"), conv);
  send_->setToolTip(tr("Send the message (Ctrl+Enter)"));
  stop_ = new QPushButton(tr("Stop"), conv);
  stop_->setToolTip(tr("Stop the reply (Esc)"));
  stop_->setEnabled(false);
  reset_ = new QPushButton(tr("New conversation"), conv);
  reset_->setToolTip(tr("Forget the conversation (the system message stays)"));
  buttons->addWidget(send_);
  buttons->addWidget(stop_);
  buttons->addStretch();
  buttons->addWidget(reset_);
  cv->addLayout(buttons);

  auto* opts = new QWidget(split);
  auto* form = new QFormLayout(opts);
  compare_ = new QCheckBox(tr("Compare two models"), opts);
  compare_->setToolTip(tr("Both models answer each prompt, side by side"));
  system_ = new QLineEdit(opts);
  system_->setToolTip(tr("System message, when the chat template supports one"));
  temperature_ = real_box(0, 5, settings_.value("chat/temperature", 0.7).toDouble(), 0.1, 2,
                          tr("0: always the most likely token (greedy); higher: more varied"));
  top_p_ = real_box(0.01, 1, settings_.value("chat/top_p", 0.9).toDouble(), 0.05, 2,
                    tr("Sample among the most likely tokens holding this probability mass"));
  top_k_ = spin_box(0, 100000, settings_.value("chat/top_k", 40).toInt(),
                    tr("Sample among the k most likely tokens (0: all)"));
  max_tokens_ = spin_box(1, 32768, settings_.value("chat/max_tokens", 256).toInt(),
                         tr("Longest reply, in tokens"));
  seed_ = new QLineEdit(settings_.value("chat/seed", "0").toString(), opts);
  seed_->setToolTip(tr("Random seed: the same seed and settings give the same reply"));
  form->addRow(compare_);
  form->addRow(tr("System"), system_);
  form->addRow(tr("Temperature"), temperature_);
  form->addRow(tr("Top-p"), top_p_);
  form->addRow(tr("Top-k"), top_k_);
  form->addRow(tr("Max tokens"), max_tokens_);
  form->addRow(tr("Seed"), seed_);
  split->setStretchFactor(0, 3);

  // Both sides of a comparison answer the same conversation: turning compare on (or picking
  // another model while comparing) starts a new one on both, rather than letting the second
  // model answer a history it never saw.
  connect(compare_, &QCheckBox::toggled, this, [this](bool on) {
    side(1).box->setVisible(on);
    if (on) restart(tr("Compare mode: both models start a new conversation."));
  });
  for (int i = 0; i < 2; ++i)
    connect(side(i).model, &QComboBox::currentIndexChanged, this, [this, i] {
      if (refreshing_ || runner_->running()) return;
      if (compare_->isChecked())
        restart(tr("Another model: both sides start a new conversation."));
      else if (i == 0 && side(0).session)
        restart(tr("New conversation with %1.").arg(side(0).model->currentText()));
    });
  side(1).box->setVisible(false);
  connect(send_, &QPushButton::clicked, this, &ChatPage::send);
  connect(stop_, &QPushButton::clicked, this, &ChatPage::stop);
  connect(reset_, &QPushButton::clicked, this, &ChatPage::reset);
  auto* send_key = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), prompt_);
  connect(send_key, &QShortcut::activated, this, &ChatPage::send);
  auto* stop_key = new QShortcut(QKeySequence(Qt::Key_Escape), this);
  stop_key->setContext(Qt::WidgetWithChildrenShortcut);
  connect(stop_key, &QShortcut::activated, this, &ChatPage::stop);
  connect(&ws_, &Workspace::choices_changed, this, &ChatPage::refresh_models);
  connect(runner_, &JobRunner::finished, this, [this](bool ok, bool, const QString& error) {
    send_->setEnabled(true);
    stop_->setEnabled(false);
    reset_->setEnabled(true);
    compare_->setEnabled(true);
    for (auto& s : sides_) s->model->setEnabled(true);
    if (!ok && !error.isEmpty())
      side(0).append_html(
          tr("<p style='color:#c62828'><b>Error:</b> %1</p>").arg(error.toHtmlEscaped()));
  });
  refresh_models();
}

ChatPage::~ChatPage() {
  // The worker is inside sides_[i]->session->reply(): it must return before sides_ goes.
  runner_->stop_and_wait();
  settings_.setValue("chat/temperature", temperature_->value());
  settings_.setValue("chat/top_p", top_p_->value());
  settings_.setValue("chat/top_k", top_k_->value());
  settings_.setValue("chat/max_tokens", max_tokens_->value());
  settings_.setValue("chat/seed", seed_->text());
}

void ChatPage::refresh_models() {
  const QList<ModelChoice> choices = ws_.choices();
  refreshing_ = true;
  for (auto& s : sides_) {
    const QString current = s->model->currentData().toStringList().join('|');
    const QSignalBlocker block(s->model);
    s->model->clear();
    for (const ModelChoice& c : choices) s->model->addItem(c.label, QStringList{c.dir, c.adapter});
    const int keep = s->model->findData(current.split('|'));
    if (keep >= 0) s->model->setCurrentIndex(keep);
  }
  // A fresh comparison: the original on the left, the newest derived model on the right.
  if (choices.size() > 1 && side(1).model->currentIndex() == side(0).model->currentIndex())
    side(1).model->setCurrentIndex(choices.size() - 1 > 0 ? 1 : 0);
  refreshing_ = false;
}

void ChatPage::select_model_dir(const QString& dir) {
  for (int i = 0; i < side(0).model->count(); ++i)
    if (side(0).model->itemData(i).toStringList().value(0) == dir &&
        side(0).model->itemData(i).toStringList().value(1).isEmpty())
      side(0).model->setCurrentIndex(i);
}

QStringList ChatPage::messages(int i) const {
  QStringList out;
  const auto& s = *sides_[static_cast<size_t>(i)];
  if (!s.session) return out;
  for (const ChatMessage& m : s.session->messages())
    out << QString::fromStdString(m.role + ": " + m.content);
  return out;
}

void ChatPage::restart(const QString& note) {
  if (runner_->running()) return;
  for (auto& s : sides_) {
    if (s->session) s->session->reset();
    s->view->clear();
    s->speed->clear();
    s->append_html(tr("<p><i>%1</i></p>").arg(note.toHtmlEscaped()));
  }
}

QString ChatPage::status_text(int i) const {
  return sides_[static_cast<size_t>(i)]->speed->text();
}

void ChatPage::set_compare(bool on) {
  compare_->setChecked(on);
}

void ChatPage::select_models(int left, int right) {
  side(0).model->setCurrentIndex(left);
  side(1).model->setCurrentIndex(right);
}

void ChatPage::set_sampling(double temperature, int max_tokens, uint64_t seed) {
  temperature_->setValue(temperature);
  max_tokens_->setValue(max_tokens);
  seed_->setText(QString::number(seed));
}

void ChatPage::set_prompt(const QString& text) {
  prompt_->setPlainText(text);
}

QString ChatPage::transcript(int i) const {
  return sides_[static_cast<size_t>(i)]->view->toPlainText();
}

QString ChatPage::speed_text(int i) const {
  return sides_[static_cast<size_t>(i)]->speed->text();
}

int ChatPage::model_count() const {
  return sides_[0]->model->count();
}

void ChatPage::stop() {
  runner_->cancel();
}

void ChatPage::reset() {
  if (runner_->running()) return;
  for (auto& s : sides_) {
    if (s->session) s->session->reset();
    s->view->clear();
    s->speed->clear();
  }
}

void ChatPage::send() {
  const QString text = prompt_->toPlainText().trimmed();
  if (text.isEmpty() || runner_->running() || side(0).model->count() == 0) return;
  prompt_->clear();
  GenerateOptions opts;
  opts.max_new_tokens = max_tokens_->value();
  opts.sampling.temperature = static_cast<float>(temperature_->value());
  opts.sampling.top_p = static_cast<float>(top_p_->value());
  opts.sampling.top_k = top_k_->value();
  opts.sampling.seed = seed_->text().toULongLong();
  const int n = compare_->isChecked() ? 2 : 1;
  std::vector<ModelChoice> wanted;
  for (int i = 0; i < n; ++i) {
    const QStringList key = side(i).model->currentData().toStringList();
    wanted.push_back({side(i).model->currentText(), key.value(0), key.value(1)});
    side(i).append_html(tr("<p><b>You:</b> %1</p><p><b>Model:</b> ").arg(text.toHtmlEscaped()));
  }
  send_->setEnabled(false);
  reset_->setEnabled(false);
  stop_->setEnabled(true);
  compare_->setEnabled(false);
  for (auto& s : sides_) s->model->setEnabled(false);
  const QString system = system_->text();
  runner_->start([this, wanted, text, opts, system](JobRunner& job) {
    for (size_t i = 0; i < wanted.size(); ++i) {
      Side& s = *sides_[i];
      if (!s.loaded || !(s.loaded_choice == wanted[i])) {
        job.post([&s] { s.speed->setText(tr("Loading the model…")); });
        s.session.reset();
        s.loaded.reset();
        s.loaded = std::make_unique<LoadedModel>(
            load_model(wanted[i].dir.toStdString(), {.adapter = wanted[i].adapter.toStdString()},
                       {.cancel = job.cancel_token()}));
        s.loaded_choice = wanted[i];
      }
      if (!s.session) {
        s.session =
            std::make_unique<ChatSession>(s.loaded->model, s.loaded->require_tokenizer(), 4096);
        s.system.clear();
      }
      if (s.system != system) {  // a new system message starts a new conversation
        s.session->set_system(system.toStdString());
        s.system = system;
      }
      // The status says what is happening now: reading the prompt, then the reply as it grows.
      job.post([&s] { s.speed->setText(tr("Reading the prompt…")); });
      int pieces = 0;
      GenerateResult r = s.session->reply(
          text.toStdString(), opts,
          [&job, &s, &pieces](std::string_view piece) {
            const int n = ++pieces;
            job.post(
                [&s, n, t = QString::fromUtf8(piece.data(), static_cast<qsizetype>(piece.size()))] {
                  s.append_text(t);
                  if (n == 1) s.speed->setText(tr("Replying…"));
                });
          },
          {.cancel = job.cancel_token()});
      const QString stats = tr("%1 tokens · %2 tok/s decode · %3 tok/s prefill · stop: %4")
                                .arg(r.tokens.size())
                                .arg(r.decode_tokens_per_second(), 0, 'f', 1)
                                .arg(r.prefill_tokens_per_second(), 0, 'f', 0)
                                .arg(QString::fromLatin1(stop_reason_name(r.stop_reason)));
      job.post([&s, stats] {
        s.append_html("</p>");
        s.speed->setText(stats);
      });
      if (r.stop_reason == StopReason::Cancelled) break;
    }
  });
}

}  // namespace hqq::ui
