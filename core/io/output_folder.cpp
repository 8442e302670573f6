#include "core/io/output_folder.h"

#include <unistd.h>

#include <random>

#include "core/base/error.h"

namespace hqq {

namespace fs = std::filesystem;

OutputFolder::OutputFolder(fs::path target, bool overwrite)
    : target_(std::move(target)), overwrite_(overwrite) {
  if (target_.filename().empty()) target_ = target_.parent_path();
  if (fs::exists(target_) && !overwrite_)
    fail_input(target_.string(),
               "already exists (choose another output folder or allow overwriting)");
  fs::path parent = fs::absolute(target_).parent_path();
  if (!fs::is_directory(parent)) fail_input(parent.string(), "output parent folder does not exist");
  std::random_device rd;
  tmp_ = parent / (target_.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                   std::to_string(rd()));
  fs::create_directory(tmp_);
}

OutputFolder::~OutputFolder() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(tmp_, ec);
}

void OutputFolder::commit() {
  fs::path old;
  if (fs::exists(target_)) {
    if (!overwrite_) fail_input(target_.string(), "appeared while the job ran; not overwriting it");
    old = target_;
    old += ".old-" + std::to_string(::getpid());
    fs::rename(target_, old);
  }
  fs::rename(tmp_, target_);
  committed_ = true;
  if (!old.empty()) fs::remove_all(old);
}

void copy_tokenizer_files(const fs::path& from, const fs::path& to) {
  for (const char* name :
       {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "generation_config.json", "added_tokens.json"})
    if (fs::exists(from / name))
      fs::copy_file(from / name, to / name, fs::copy_options::overwrite_existing);
}

}  // namespace hqq
