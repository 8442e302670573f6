#include "core/io/output_folder.h"

#include <unistd.h>

#include <algorithm>
#include <random>

#include "core/base/error.h"

namespace hqq {

namespace fs = std::filesystem;

namespace {

fs::path canonical_path(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(fs::absolute(p), ec);
  if (ec) c = fs::absolute(p).lexically_normal();
  // weakly_canonical keeps a trailing separator of a folder path: drop it for comparisons.
  if (c.has_relative_path() && c.filename().empty()) c = c.parent_path();
  return c;
}

// True when `inner` equals `outer` or lies inside it (whole components, both canonical).
bool within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin(), o = outer.begin();
  for (; o != outer.end(); ++o, ++i)
    if (i == inner.end() || *i != *o) return false;
  return true;
}

std::string reason(const std::error_code& ec) {
  return ec.message();
}

}  // namespace

void refuse_output_over_sources(const fs::path& target, const std::vector<fs::path>& sources) {
  const fs::path t = canonical_path(target);
  for (const auto& s : sources) {
    if (s.empty()) continue;
    const fs::path c = canonical_path(s);
    if (t == c)
      fail_input(target.string(), "is the input " + s.string() +
                                      "; choose another output (an input is never replaced)");
    if (within(t, c))
      fail_input(target.string(), "lies inside the input " + s.string() +
                                      "; choose an output outside it (inputs are never modified)");
    if (within(c, t))
      fail_input(target.string(),
                 "contains the input " + s.string() + "; replacing it would delete the input");
  }
}

void refuse_output_file(const fs::path& target, bool overwrite,
                        const std::vector<fs::path>& sources) {
  if (target.empty()) throw InputError("no output file given");
  refuse_output_over_sources(target, sources);
  std::error_code ec;
  if (fs::is_directory(target, ec))
    fail_input(target.string(), "is a folder; the output here is a file");
  if (fs::exists(fs::symlink_status(target, ec)) && !overwrite)
    fail_input(target.string(), "already exists (choose another file, or pass --overwrite)");
  const fs::path parent = fs::absolute(target).parent_path();
  if (!fs::is_directory(parent, ec))
    fail_input(target.string(),
               "cannot be created: its parent folder " + parent.string() + " does not exist");
}

OutputFolder::OutputFolder(fs::path target, bool overwrite, const std::vector<fs::path>& sources)
    : target_(std::move(target)), overwrite_(overwrite) {
  if (target_.empty()) throw InputError("no output folder given");
  if (target_.filename().empty()) target_ = target_.parent_path();
  refuse_output_over_sources(target_, sources);
  std::error_code ec;
  const auto st = fs::symlink_status(target_, ec);
  if (fs::exists(st) && !overwrite_)
    fail_input(target_.string(),
               "already exists (choose another output folder, or pass --overwrite to replace it)");
  if (fs::exists(st) && !fs::is_directory(fs::status(target_, ec)))
    fail_input(target_.string(), "exists and is not a folder; not replacing a file");
  fs::path parent = fs::absolute(target_).parent_path();
  if (!fs::is_directory(parent, ec))
    fail_input(target_.string(),
               "cannot be created: its parent folder " + parent.string() + " does not exist");
  std::random_device rd;
  tmp_ = parent / (target_.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                   std::to_string(rd()));
  if (!fs::create_directory(tmp_, ec) || ec)
    fail_input(target_.string(),
               "cannot be created: " +
                   (ec ? reason(ec) : std::string("a temporary folder of that name exists")));
}

OutputFolder::~OutputFolder() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(tmp_, ec);
}

void OutputFolder::copy_existing_target() {
  std::error_code ec;
  if (!fs::is_directory(target_, ec)) return;
  fs::copy(target_, tmp_, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
  if (ec) fail_input(target_.string(), "cannot be read to continue from it: " + reason(ec));
}

void OutputFolder::commit() {
  std::error_code ec;
  fs::path old;
  if (fs::exists(fs::symlink_status(target_, ec))) {
    if (!overwrite_) fail_input(target_.string(), "appeared while the job ran; not overwriting it");
    old = tmp_;
    old += ".old";
    fs::rename(target_, old, ec);
    if (ec)
      throw Error(target_.string() + ": cannot move the existing folder aside: " + reason(ec));
  }
  fs::rename(tmp_, target_, ec);
  if (ec) {
    const std::string why = reason(ec);
    if (!old.empty()) fs::rename(old, target_, ec);  // put the previous output back
    throw Error(target_.string() + ": cannot move the finished output into place: " + why);
  }
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

void copy_tokenizer_files(const fs::path& from, const fs::path& to) {
  for (const char* name :
       {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "generation_config.json", "added_tokens.json"})
    if (fs::exists(from / name))
      fs::copy_file(from / name, to / name, fs::copy_options::overwrite_existing);
}

}  // namespace hqq
