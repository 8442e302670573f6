#pragma once
// What the pages share: the model the user opened, the quantized models and adapters made (or
// opened) in this session. Pages read it and listen to its signals; none of them owns another.
#include <QObject>
#include <QString>
#include <QStringList>
#include <optional>

#include "core/model/model_info.h"

namespace hqq::ui {

// A model the Evaluate and Chat pages can run: a folder, optionally with a LoRA adapter on top.
struct ModelChoice {
  QString label;  // shown in selectors, e.g. "demo-model (original)"
  QString dir;
  QString adapter;  // empty: none
  bool operator==(const ModelChoice&) const = default;
};

class Workspace : public QObject {
  Q_OBJECT
 public:
  explicit Workspace(QObject* parent = nullptr) : QObject(parent) {}

  void set_model(const QString& dir, const ModelInfo& info);  // the one opened on the Model page
  const QString& model_dir() const { return model_dir_; }
  const std::optional<ModelInfo>& model_info() const { return info_; }

  void add_quantized(const QString& dir);  // a folder made (or found) by the Quantize page
  void add_adapter(const QString& dir, const QString& base_dir);
  const QString& last_quantized() const { return last_quantized_; }

  // The opened model first, then quantized models and adapters, newest first; no duplicates.
  QList<ModelChoice> choices() const;

 Q_SIGNALS:
  void model_changed(const QString& dir);
  void choices_changed();

 private:
  QString model_dir_;
  std::optional<ModelInfo> info_;
  QString last_quantized_;
  QList<ModelChoice> extra_;  // quantized models and adapters, newest first
};

}  // namespace hqq::ui
