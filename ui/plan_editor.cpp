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
enum Column { kMatch, kBits, kGroup, kAxis, kSkip };
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
  table_ = new QTableWidget(0, 5, this);
  table_->setHorizontalHeaderLabels({tr("Match"), tr("Bits"), tr("Group"), tr("Axis"), tr("Keep")});
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
  if (r.nbits) b->setCurrentText(QString::number(*r.nbits));
  if (r.group_size)
    g->setCurrentText(*r.group_size ? QString::number(*r.group_size) : tr("per channel"));
  if (r.axis) a->setCurrentText(QString::number(*r.axis));
  auto* skip = new QCheckBox;
  skip->setChecked(r.skip);
  skip->setToolTip(tr("Keep this layer in 16-bit"));
  table_->setCellWidget(row, kBits, b);
  table_->setCellWidget(row, kGroup, g);
  table_->setCellWidget(row, kAxis, a);
  table_->setCellWidget(row, kSkip, skip);
  for (QComboBox* c : {b, g, a})
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
    r.skip = qobject_cast<QCheckBox*>(table_->cellWidget(row, kSkip))->isChecked();
    out.push_back(r);
  }
  return out;
}

}  // namespace hqq::ui
