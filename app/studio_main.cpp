// hqq-studio: the desktop application. Parses arguments, opens the main window.
#include <QApplication>
#include <QCommandLineParser>
#include <QSettings>
#include <cstdio>

#include "core/base/build_info.h"
#include "core/base/threads.h"
#include "ui/main_window.h"
#include "ui/model_page.h"
#include "ui/resource_paths.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("hqq-studio");
  QApplication::setOrganizationName("hqq-studio");
  QApplication::setApplicationVersion(HQQ_VERSION_STRING);
  QCommandLineParser parser;
  parser.setApplicationDescription(
      "HQQ Studio: quantize, inspect, fine-tune and chat with local LLMs");
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addPositionalArgument("model",
                               "Model folder to open (default: the last one, or the demo model)");
  QCommandLineOption threads({"t", "threads"}, "Compute threads (default: all cores)", "n", "0");
  parser.addOption(threads);
  parser.process(app);

  hqq::set_compute_threads(parser.value(threads).toInt());
  QSettings settings;
  hqq::ui::MainWindow window(settings);
  window.show();
  QString model = parser.positionalArguments().value(0);
  if (model.isEmpty()) model = settings.value("recentModels").toStringList().value(0);
  if (model.isEmpty()) model = hqq::ui::demo_model_dir();
  if (!model.isEmpty()) window.model_page()->open_model(model);
  return app.exec();
}
