#include "core/text/spm_library.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>

#include "core/base/error.h"

namespace hqq {

namespace fs = std::filesystem;

SpmLibrary::~SpmLibrary() {
  if (handle) dlclose(handle);
}

std::vector<std::string> SpmLibrary::candidate_paths() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("HQQ_SPM_PLUGIN"); env && *env) out.emplace_back(env);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path dir = exe.parent_path();
    out.push_back((dir / HQQ_SPM_PLUGIN_NAME).string());
    out.push_back((dir / ".." / "lib" / HQQ_SPM_PLUGIN_NAME).string());
    out.push_back((dir / ".." / "lib" / "hqq-studio" / HQQ_SPM_PLUGIN_NAME).string());
  }
  out.push_back(std::string(HQQ_SPM_PLUGIN_INSTALL_DIR) + "/" + HQQ_SPM_PLUGIN_NAME);
  out.push_back(std::string(HQQ_SPM_PLUGIN_BUILD_DIR) + "/" + HQQ_SPM_PLUGIN_NAME);
  return out;
}

std::shared_ptr<SpmLibrary> SpmLibrary::open() {
  auto lib = std::make_shared<SpmLibrary>();
  std::string tried, last_error;
  for (const auto& p : candidate_paths()) {
    if (!fs::exists(p)) {
      tried += "\n  " + p + " (absent)";
      continue;
    }
#ifdef HQQ_SPM_OWN_NAMESPACE
    // Sanitizer builds (CMakeLists.txt, HQQ_SANITIZE): their runtimes refuse RTLD_DEEPBIND, so
    // the uninstrumented plugin gets a link namespace of its own, which keeps protobufs apart too.
    lib->handle = dlmopen(LM_ID_NEWLM, p.c_str(), RTLD_NOW | RTLD_LOCAL);
#else
    // DEEPBIND: the plugin resolves its own symbols (its protobuf) before the process's.
    lib->handle = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
#endif
    if (lib->handle) {
      lib->path = p;
      break;
    }
    const char* e = dlerror();
    tried += "\n  " + p + " (" + (e ? e : "dlopen failed") + ")";
  }
  if (!lib->handle)
    throw Error("cannot load the tokenizer plugin " HQQ_SPM_PLUGIN_NAME "; tried:" + tried);
  auto sym = [&](const char* name) {
    void* s = dlsym(lib->handle, name);
    if (!s) throw Error(lib->path + ": tokenizer plugin lacks symbol " + name);
    return s;
  };
  auto abi = reinterpret_cast<hqq_spm_abi_version_fn>(sym("hqq_spm_abi_version"));
  if (abi() != HQQ_SPM_ABI_VERSION)
    throw Error(lib->path + ": tokenizer plugin has a different ABI version");
  lib->load = reinterpret_cast<hqq_spm_load_fn>(sym("hqq_spm_load"));
  lib->free = reinterpret_cast<hqq_spm_free_fn>(sym("hqq_spm_free"));
  lib->encode = reinterpret_cast<hqq_spm_encode_fn>(sym("hqq_spm_encode"));
  lib->decode = reinterpret_cast<hqq_spm_decode_fn>(sym("hqq_spm_decode"));
  lib->release = reinterpret_cast<hqq_spm_release_fn>(sym("hqq_spm_release"));
  lib->vocab_size = reinterpret_cast<hqq_spm_vocab_size_fn>(sym("hqq_spm_vocab_size"));
  lib->piece_to_id = reinterpret_cast<hqq_spm_piece_to_id_fn>(sym("hqq_spm_piece_to_id"));
  lib->id_to_piece = reinterpret_cast<hqq_spm_id_to_piece_fn>(sym("hqq_spm_id_to_piece"));
  lib->piece_type = reinterpret_cast<hqq_spm_piece_type_fn>(sym("hqq_spm_piece_type"));
  lib->special_ids = reinterpret_cast<hqq_spm_special_ids_fn>(sym("hqq_spm_special_ids"));
  return lib;
}

}  // namespace hqq
