// GoogleTest main for widget tests: one QApplication, offscreen unless a display is requested.
#include <gtest/gtest.h>

#include <QApplication>
#include <QStandardPaths>

int main(int argc, char** argv) {
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  QStandardPaths::setTestModeEnabled(true);  // defaults never point into the user's folders
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
