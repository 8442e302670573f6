#pragma once
// The per-module overrides of a quantization plan as an editable table: pattern, bits, group
// size, axis, skip. Later rows win, as in the plan's JSON form.
#include <QWidget>
#include <vector>

namespace hqq {
struct QuantRule;
}

class QTableWidget;

namespace hqq::ui {

class PlanEditor : public QWidget {
  Q_OBJECT
 public:
  explicit PlanEditor(QWidget* parent = nullptr);
  std::vector<QuantRule> rules() const;
  void set_rules(const std::vector<QuantRule>& rules);
  void add_rule(const QuantRule& r);
  int rows() const;

 Q_SIGNALS:
  void changed();

 private:
  QTableWidget* table_ = nullptr;
};

}  // namespace hqq::ui
