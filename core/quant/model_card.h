#pragma once
// The model card the CLI (`hqq info`) and the Model page show: what inspect_model reads from the
// folder, plus the size each quantization preset would give (for models not quantized yet).
#include <filesystem>

#include "core/model/model_info.h"

namespace hqq {

ModelInfo describe_model(const std::filesystem::path& dir);

}  // namespace hqq
