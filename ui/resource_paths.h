#pragma once
// Where the embedded demo model and sample data live: installed beside the binary
// (../share/hqq-studio), at the configured install prefix, or in the source tree (a build that
// was not installed). Empty when none has them.
#include <QString>

namespace hqq::ui {

QString demo_model_dir();
QString sample_data_dir();

}  // namespace hqq::ui
