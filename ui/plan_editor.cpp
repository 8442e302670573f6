#include "ui/plan_editor.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

#include "core/quant/quant_plan.h"
#include "ui/hqq_tooltips.h"

namespace hqq::ui {

namespace {
enum Column { kMatch, kBits, kGroup, kFormat, kAxis, kSkip };
// The Format column: the plan's default, plain HQQ (fp16 scale and zero per group), or the
// two-level format of the presets (4-bit sub-group meta under an fp16 pair per 256 weights),
// without or with the input rotation. What the budget planner writes is always one of these.
enum Format { kFormatDefault, kFormatPlain, kFormatTwoLevel, kFormatTwoLevelRotated };
const int kBitChoices[] = {1, 2, 3, 4, 8};
const int kGroupChoices[] = {8, 16, 32, 64, 128, 256, 0};

QComboBox* combo(const QStringList& items, const QString& tip) {
  auto* c = new QComboBox;
  c->addItem(QObject::tr("default"));
  c->addItems(items);
  c->setToolTip(tip);
  return c;
}
}  // namespace

PlanEditor::PlanEditor(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  table_ = new QTableWidget(0, 6, this);
  table_->setHorizontalHeaderLabels(
      {tr("Match"), tr("Bits"), tr("Group"), tr("Format"), tr("Axis"), tr("Keep")});
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setSectionResizeMode(kMatch, QHeaderView::Stretch);
  table_->verticalHeader()->hide();
  table_->setToolTip(
      tr("Overrides, later rows win. Match: a component (\"mlp\", \"self_attn.v_proj\", "
         "\"layers.0\") or a glob over the module name (\"model.layers.1*.mlp.*\"). "
         "Keep: leave the layer unquantized."));
  layout->addWidget(table_);
  auto* buttons = new QHBoxLayout;
  auto* add = new QPushButton(tr("Add override"), this);
  auto* remove = new QPushButton(tr("Remove"), this);
  buttons->addWidget(add);
  buttons->addWidget(remove);
  buttons->addStretch();
  layout->addLayout(buttons);
  connect(add, &QPushButton::clicked, this, [this] { add_rule({"mlp", 2, 32, {}, false}); });
  connect(remove, &QPushButton::clicked, this, [this] {
    int row = table_->currentRow();
    if (row < 0) row = table_->rowCount() - 1;
    if (row >= 0) table_->removeRow(row);
    Q_EMIT changed();
  });
  connect(table_, &QTableWidget::itemChanged, this, &PlanEditor::changed);
}

int PlanEditor::rows() const {
  return table_->rowCount();
}

void PlanEditor::add_rule(const QuantRule& r) {
  const int row = table_->rowCount();
  table_->insertRow(row);
  table_->setItem(row, kMatch, new QTableWidgetItem(QString::fromStdString(r.match)));
  QStringList bits, groups;
  for (int b : kBitChoices) bits << QString::number(b);
  for (int g : kGroupChoices) groups << (g ? QString::number(g) : tr("per channel"));
  auto* b = combo(bits, tips::bits());
  auto* g = combo(groups, tips::group_size());
  auto* a = combo({"0", "1"}, tips::axis());
  auto* f = combo({tr("fp16 meta"), tr("two-level"), tr("two-level + rotation")},
                  tr("fp16 meta: plain HQQ, an fp16 scale and zero per group. Two-level: the "
                     "group's scale and zero as 4-bit integers under one fp16 pair per 256 "
                     "weights (bits + 8/group + 0.125 bits per weight). Rotation: a seeded "
                     "Hadamard rotation of the layer's inputs before quantizing."));
  if (r.scale_bits)
    f->setCurrentIndex(*r.scale_bits == 0         ? kFormatPlain
                       : r.rotate.value_or(false) ? kFormatTwoLevelRotated
                                                  : kFormatTwoLevel);
  if (r.nbits) b->setCurrentText(QString::number(*r.nbits));
  if (r.group_size)
    g->setCurrentText(*r.group_size ? QString::number(*r.group_size) : tr("per channel"));
  if (r.axis) a->setCurrentText(QString::number(*r.axis));
  auto* skip = new QCheckBox;
  skip->setChecked(r.skip);
  skip->setToolTip(tr("Keep this layer in 16-bit"));
  table_->setCellWidget(row, kBits, b);
  table_->setCellWidget(row, kGroup, g);
  table_->setCellWidget(row, kFormat, f);
  table_->setCellWidget(row, kAxis, a);
  table_->setCellWidget(row, kSkip, skip);
  for (QComboBox* c : {b, g, f, a})
    connect(c, &QComboBox::currentIndexChanged, this, &PlanEditor::changed);
  connect(skip, &QCheckBox::toggled, this, &PlanEditor::changed);
  Q_EMIT changed();
}

void PlanEditor::set_rules(const std::vector<QuantRule>& rules) {
  QSignalBlocker block(this);
  table_->setRowCount(0);
  for (const auto& r : rules) add_rule(r);
  block.unblock();
  Q_EMIT changed();
}

std::vector<QuantRule> PlanEditor::rules() const {
  std::vector<QuantRule> out;
  for (int row = 0; row < table_->rowCount(); ++row) {
    QuantRule r;
    auto* item = table_->item(row, kMatch);
    r.match = item ? item->text().trimmed().toStdString() : "";
    if (r.match.empty()) continue;
    auto* b = qobject_cast<QComboBox*>(table_->cellWidget(row, kBits));
    auto* g = qobject_cast<QComboBox*>(table_->cellWidget(row, kGroup));
    auto* a = qobject_cast<QComboBox*>(table_->cellWidget(row, kAxis));
    if (b->currentIndex() > 0) r.nbits = kBitChoices[b->currentIndex() - 1];
    if (g->currentIndex() > 0) r.group_size = kGroupChoices[g->currentIndex() - 1];
    if (a->currentIndex() > 0) r.axis = a->currentIndex() - 1;
    const int format = qobject_cast<QComboBox*>(table_->cellWidget(row, kFormat))->currentIndex();
    if (format == kFormatPlain) {
      r.scale_bits = 0;
      r.rotate = false;
    } else if (format != kFormatDefault) {
      r.scale_bits = 4;
      r.zero_bits = 4;
      r.super_group = 256;
      r.axis = 1;
      r.rotate = format == kFormatTwoLevelRotated;
    }
    r.skip = qobject_cast<QCheckBox*>(table_->cellWidget(row, kSkip))->isChecked();
    out.push_back(r);
  }
  return out;
}

}  // namespace hqq::ui
