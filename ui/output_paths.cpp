#include "ui/output_paths.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>

#include "ui/resource_paths.h"

namespace hqq::ui {

namespace {
bool inside(const QString& path, const QString& dir) {
  if (dir.isEmpty()) return false;
  const QString d = QDir(dir).canonicalPath();
  const QString p = QFileInfo(path).canonicalFilePath();
  return !d.isEmpty() && !p.isEmpty() && (p == d || p.startsWith(d + '/'));
}

QString settings_key(const QString& key, const QString& model) {
  // QSettings treats '/' as a group separator: keep a model's path as one key.
  return "typed_paths/" + key + "/" + QString(model).replace('/', '|');
}
}  // namespace

QString default_output_root() {
  QString docs = QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation);
  // A Documents folder that does not exist yet is created with the first result.
  if (docs.isEmpty() || (QFileInfo::exists(docs) && !QFileInfo(docs).isWritable()))
    docs = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
  if (docs.isEmpty()) docs = QDir::homePath();
  return QDir(docs).filePath("HQQ Studio");
}

QString output_root(const QSettings& settings) {
  const QString s = settings.value("output/folder").toString();
  return s.isEmpty() ? default_output_root() : s;
}

void set_output_root(QSettings& settings, const QString& dir) {
  settings.setValue("output/folder", dir);
}

QString output_folder_for(const QSettings& settings, const QString& source) {
  const QFileInfo src(source);
  const QString parent = src.absolutePath();
  const QString app_dir = QCoreApplication::applicationDirPath();
  const bool app_data = inside(source, demo_model_dir()) || inside(source, sample_data_dir()) ||
                        inside(source, app_dir + "/..") ||
                        inside(source, QStringLiteral(HQQ_DATA_INSTALL_DIR)) ||
                        inside(source, QStringLiteral(HQQ_RESOURCES_SOURCE_DIR));
  if (!source.isEmpty() && !app_data && QFileInfo(parent).isDir() && QFileInfo(parent).isWritable())
    return parent;
  return output_root(settings);
}

QString output_path_for(const QSettings& settings, const QString& source, const QString& suffix) {
  return QDir(output_folder_for(settings, source)).filePath(QDir(source).dirName() + suffix);
}

QString typed_path(const QSettings& settings, const QString& key, const QString& model) {
  return settings.value(settings_key(key, model)).toString();
}

void set_typed_path(QSettings& settings, const QString& key, const QString& model,
                    const QString& path) {
  settings.setValue(settings_key(key, model), path);
}

}  // namespace hqq::ui
