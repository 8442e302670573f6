#pragma once
// Shows a ModelInfo: architecture, parameters, layers, dtype, size on disk, tokenizer, chat
// template, and the estimated size per quantization preset.
#include <QWidget>

class QLabel;
class QTableWidget;
class QFormLayout;

namespace hqq {
struct ModelInfo;
}

namespace hqq::ui {

class ModelCardWidget : public QWidget {
  Q_OBJECT
 public:
  explicit ModelCardWidget(QWidget* parent = nullptr);
  void show_info(const ModelInfo& info);
  void clear();
  // The value shown for a field ("Parameters", ...), for tests and accessibility.
  QString field(const QString& name) const;
  const QTableWidget* estimates() const { return estimates_; }

 private:
  void set_field(const QString& name, const QString& value, const QString& tooltip = {});
  QFormLayout* form_ = nullptr;
  QTableWidget* estimates_ = nullptr;
  QLabel* title_ = nullptr;
};

QString human_bytes(double bytes);
QString human_count(double n);

}  // namespace hqq::ui
