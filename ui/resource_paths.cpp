#include "ui/resource_paths.h"

#include <QCoreApplication>
#include <QDir>

namespace hqq::ui {

namespace {
QString find(const QString& name, const QString& install_dir, const QString& source_dir,
             const QString& marker) {
  const QString app_dir = QCoreApplication::applicationDirPath();
  for (const QString& d : {app_dir + "/../share/hqq-studio/" + name, install_dir, source_dir})
    if (QDir(d).exists(marker)) return QDir(d).canonicalPath();
  return {};
}
}  // namespace

QString demo_model_dir() {
  return find("demo-model", HQQ_DATA_INSTALL_DIR "/demo-model",
              HQQ_RESOURCES_SOURCE_DIR "/demo-model", "config.json");
}

QString sample_data_dir() {
  return find("sample-data", HQQ_DATA_INSTALL_DIR "/sample-data",
              HQQ_RESOURCES_SOURCE_DIR "/sample-data", "finetune.txt");
}

}  // namespace hqq::ui
