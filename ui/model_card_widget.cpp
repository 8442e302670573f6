#include "ui/model_card_widget.h"

#include <QFormLayout>
#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QVBoxLayout>

#include "core/model/model_info.h"

namespace hqq::ui {

QString human_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) b /= 1000, ++u;
  return QString("%1 %2").arg(b, 0, 'f', u == 0 ? 0 : 2).arg(units[u]);
}

QString human_count(double n) {
  if (n >= 1e9) return QString("%1 B").arg(n / 1e9, 0, 'f', 2);
  if (n >= 1e6) return QString("%1 M").arg(n / 1e6, 0, 'f', 2);
  if (n >= 1e3) return QString("%1 K").arg(n / 1e3, 0, 'f', 1);
  return QString::number(n);
}

ModelCardWidget::ModelCardWidget(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  title_ = new QLabel(tr("No model open"), this);
  QFont f = title_->font();
  f.setPointSizeF(f.pointSizeF() * 1.4);
  f.setBold(true);
  title_->setFont(f);
  title_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(title_);
  form_ = new QFormLayout();
  layout->addLayout(form_);
  // Rows exist from the start so that the layout never changes while a card is shown.
  for (const QString& name :
       {tr("Architecture"), tr("Parameters"), tr("Layers"), tr("Attention"), tr("Vocabulary"),
        tr("Context"), tr("Weights"), tr("On disk"), tr("Tokenizer"), tr("Chat template"),
        tr("Quantization"), tr("Full precision")}) {
    auto* v = new QLabel(QStringLiteral("—"), this);
    v->setTextFormat(Qt::PlainText);  // values come from files: "<|eot_id|>" is no markup
    v->setTextInteractionFlags(Qt::TextSelectableByMouse);
    v->setWordWrap(true);
    form_->addRow(name, v);
  }
  auto* est_label = new QLabel(tr("Estimated size after quantization"), this);
  est_label->setToolTip(
      tr("Decoder projections quantized with the preset (codes plus one fp16 scale and zero per "
         "group); embeddings, lm_head and norms kept in 16-bit."));
  layout->addWidget(est_label);
  estimates_ = new QTableWidget(0, 3, this);
  estimates_->setHorizontalHeaderLabels({tr("Preset"), tr("Bits / weight"), tr("Model size")});
  estimates_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  estimates_->verticalHeader()->hide();
  estimates_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  layout->addWidget(estimates_, 1);
}

void ModelCardWidget::set_field(const QString& name, const QString& value, const QString& tooltip) {
  for (int r = 0; r < form_->rowCount(); ++r) {
    auto* label = qobject_cast<QLabel*>(form_->itemAt(r, QFormLayout::LabelRole)->widget());
    if (label && label->text() == name) {
      auto* v = qobject_cast<QLabel*>(form_->itemAt(r, QFormLayout::FieldRole)->widget());
      v->setText(value);
      v->setToolTip(tooltip);
      return;
    }
  }
  Q_ASSERT_X(false, "set_field", "unknown field");
}

QString ModelCardWidget::field(const QString& name) const {
  for (int r = 0; r < form_->rowCount(); ++r) {
    auto* label = qobject_cast<QLabel*>(form_->itemAt(r, QFormLayout::LabelRole)->widget());
    if (label && label->text() == name)
      return qobject_cast<QLabel*>(form_->itemAt(r, QFormLayout::FieldRole)->widget())->text();
  }
  return {};
}

void ModelCardWidget::clear() {
  title_->setText(tr("No model open"));
  for (int r = 0; r < form_->rowCount(); ++r)
    qobject_cast<QLabel*>(form_->itemAt(r, QFormLayout::FieldRole)->widget())
        ->setText(QStringLiteral("—"));
  estimates_->setRowCount(0);
}

void ModelCardWidget::show_info(const ModelInfo& info) {
  const auto& c = info.config;
  title_->setText(QString::fromStdString(info.dir));
  set_field(tr("Architecture"),
            QString::fromStdString((c.architecture.empty() ? c.model_type : c.architecture) + " (" +
                                   c.model_type + ")"));
  set_field(tr("Parameters"), human_count(double(info.parameters)),
            tr("%1 of them in the decoder's linear projections, which HQQ quantizes")
                .arg(human_count(double(info.linear_parameters))));
  set_field(tr("Layers"), tr("%1 × hidden %2, FFN %3")
                              .arg(c.num_hidden_layers)
                              .arg(c.hidden_size)
                              .arg(c.intermediate_size));
  set_field(tr("Attention"),
            tr("%1 heads, %2 key/value heads, head dim %3")
                .arg(c.num_attention_heads)
                .arg(c.num_key_value_heads)
                .arg(c.head_dim),
            tr("Fewer key/value heads than query heads means grouped-query attention"));
  set_field(tr("Vocabulary"), QString::number(c.vocab_size) +
                                  (c.tie_word_embeddings ? tr(" (tied embeddings)") : ""));
  set_field(tr("Context"),
            tr("%1 positions, RoPE θ %2").arg(c.max_position_embeddings).arg(c.rope_theta));
  QStringList dtypes;
  for (const auto& [d, n] : info.parameters_by_dtype)
    dtypes << QString("%1 %2").arg(QString::fromStdString(d), human_count(double(n)));
  set_field(tr("Weights"),
            tr("%1 (%2)").arg(human_bytes(double(info.weight_bytes)), dtypes.join(", ")));
  set_field(tr("On disk"), tr("%1 in %2 safetensors file(s)")
                               .arg(human_bytes(double(info.size_on_disk)))
                               .arg(info.shards));
  set_field(tr("Tokenizer"), QString::fromStdString(info.tokenizer));
  // Which tokens end a reply is what a user of an instruct model needs to see (<|eot_id|>,
  // <|im_end|>): a missing one means replies that run on into the next turn.
  QStringList stops;
  for (int64_t id : info.eos_token_ids) {
    QString name = QString::number(id);
    for (const auto& [sid, text] : info.special_tokens)
      if (sid == id) name = QString::fromStdString(text);
    if (!stops.contains(name)) stops << name;
  }
  const QString stop_text =
      stops.isEmpty() ? QString() : tr("; replies stop on %1").arg(stops.join(", "));
  set_field(tr("Chat template"),
            (info.has_chat_template ? tr("yes") : tr("no (plain fallback)")) + stop_text);
  // What quantization leaves alone, and how much of a quantized model it is: in a small model the
  // embeddings dominate, so "4-bit" is far from 4× smaller.
  const double kept_params = double(info.parameters - info.linear_parameters);
  const double kept_bytes = kept_params * kept_bytes_per_parameter(info);
  QString share;
  for (const auto& e : info.estimates)
    if (e.preset == "4bit-g64" && e.bytes > 0)
      share = tr(" — %1% of the 4bit-g64 size (%2)")
                  .arg(100.0 * kept_bytes / double(e.bytes), 0, 'f', 0)
                  .arg(human_bytes(double(e.bytes)));
  set_field(tr("Full precision"),
            tr("embeddings, lm_head, norms: %1 parameters, %2%3")
                .arg(human_count(kept_params), human_bytes(kept_bytes), share),
            tr("HQQ quantizes only the decoder's linear projections; these stay as stored, so "
               "every quantized size includes them."));
  set_field(tr("Quantization"), info.quantization.empty()
                                    ? tr("none (full precision)")
                                    : QString::fromStdString(info.quantization));
  estimates_->setRowCount(static_cast<int>(info.estimates.size()));
  for (int i = 0; i < static_cast<int>(info.estimates.size()); ++i) {
    const auto& e = info.estimates[static_cast<size_t>(i)];
    estimates_->setItem(i, 0, new QTableWidgetItem(QString::fromStdString(e.preset)));
    estimates_->setItem(i, 1, new QTableWidgetItem(QString::number(e.bits_per_weight, 'f', 2)));
    estimates_->setItem(i, 2, new QTableWidgetItem(human_bytes(double(e.bytes))));
  }
}

}  // namespace hqq::ui
