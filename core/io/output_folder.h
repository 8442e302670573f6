#pragma once
// An output folder built under a temporary name beside its target and renamed into place by
// commit(); destroyed without commit() it removes itself, so a failed or cancelled job leaves
// nothing behind. An existing target is refused unless `overwrite` is set.
#include <filesystem>

namespace hqq {

class OutputFolder {
 public:
  OutputFolder(std::filesystem::path target, bool overwrite);
  ~OutputFolder();
  OutputFolder(const OutputFolder&) = delete;
  OutputFolder& operator=(const OutputFolder&) = delete;

  const std::filesystem::path& path() const { return tmp_; }  // where to write now
  const std::filesystem::path& target() const { return target_; }
  void commit();

 private:
  std::filesystem::path target_, tmp_;
  bool overwrite_ = false, committed_ = false;
};

// Copies the tokenizer and generation files a model folder carries (those that exist).
void copy_tokenizer_files(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace hqq
