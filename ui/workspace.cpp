#include "ui/workspace.h"

#include <QDir>

namespace hqq::ui {

namespace {
QString base_name(const QString& dir) {
  return QDir(dir).dirName();
}
}  // namespace

void Workspace::set_model(const QString& dir, const ModelInfo& info) {
  model_dir_ = dir;
  info_ = info;
  // A quantized folder opened directly is also something to run as is.
  if (!info.quantization.empty()) last_quantized_ = dir;
  Q_EMIT model_changed(dir);
  Q_EMIT choices_changed();
}

void Workspace::add_quantized(const QString& dir) {
  last_quantized_ = dir;
  ModelChoice c{tr("%1 (quantized)").arg(base_name(dir)), dir, {}};
  extra_.removeAll(c);
  extra_.prepend(c);
  Q_EMIT choices_changed();
}

void Workspace::add_adapter(const QString& dir, const QString& base_dir) {
  ModelChoice c{tr("%1 + %2").arg(base_name(base_dir), base_name(dir)), base_dir, dir};
  extra_.removeAll(c);
  extra_.prepend(c);
  Q_EMIT choices_changed();
}

QList<ModelChoice> Workspace::choices() const {
  QList<ModelChoice> out = extra_;
  if (!model_dir_.isEmpty()) {
    const bool quantized = info_ && !info_->quantization.empty();
    ModelChoice c{
        tr("%1 (%2)").arg(base_name(model_dir_), quantized ? tr("quantized") : tr("original")),
        model_dir_,
        {}};
    if (!out.contains(c)) out.prepend(c);
  }
  return out;
}

}  // namespace hqq::ui
