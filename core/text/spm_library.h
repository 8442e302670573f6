#pragma once
// Opens the sentencepiece plugin (libhqq_spm.so) with dlopen(RTLD_LOCAL | RTLD_DEEPBIND): the
// plugin's protobuf stays invisible to libtorch's and vice versa. See core/spm_plugin/.
#include <memory>
#include <string>
#include <vector>

#include "core/text/spm_plugin/spm_api.h"

namespace hqq {

struct SpmLibrary {
  void* handle = nullptr;
  std::string path;
  hqq_spm_load_fn load = nullptr;
  hqq_spm_free_fn free = nullptr;
  hqq_spm_encode_fn encode = nullptr;
  hqq_spm_decode_fn decode = nullptr;
  hqq_spm_release_fn release = nullptr;
  hqq_spm_vocab_size_fn vocab_size = nullptr;
  hqq_spm_piece_to_id_fn piece_to_id = nullptr;
  hqq_spm_id_to_piece_fn id_to_piece = nullptr;
  hqq_spm_piece_type_fn piece_type = nullptr;
  hqq_spm_special_ids_fn special_ids = nullptr;
  ~SpmLibrary();

  // Finds and opens the plugin: $HQQ_SPM_PLUGIN, then beside the executable, ../lib,
  // ../lib/hqq-studio, the install folder and the build folder. Throws Error listing the places.
  static std::shared_ptr<SpmLibrary> open();
  static std::vector<std::string> candidate_paths();
};

}  // namespace hqq
