#pragma once
// Where results go. A per-user output folder (a setting; by default "HQQ Studio" in the user's
// documents folder, from QStandardPaths) receives what is made from models whose own folder
// cannot take it: read-only places such as the installed demo model, and the application's
// resources. Elsewhere results go next to their source, where users look for them.
#include <QSettings>
#include <QString>

namespace hqq::ui {

QString default_output_root();
QString output_root(const QSettings& settings);  // the setting, or the default
void set_output_root(QSettings& settings, const QString& dir);

// The folder a new result of `source` goes in: source's parent when writable and not part of the
// application's own data, otherwise the output root (created on demand by the job).
QString output_folder_for(const QSettings& settings, const QString& source);
// output_folder_for(source) + "/" + name of source + suffix, e.g. "…/demo-model-hqq-4bit-g64".
QString output_path_for(const QSettings& settings, const QString& source, const QString& suffix);

// Paths the user typed for a model's results, kept per model (and key: "quantize", "adapter") in
// the settings so that reopening the model, or the application, keeps them.
QString typed_path(const QSettings& settings, const QString& key, const QString& model);
void set_typed_path(QSettings& settings, const QString& key, const QString& model,
                    const QString& path);

}  // namespace hqq::ui
