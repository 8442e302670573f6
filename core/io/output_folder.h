#pragma once
// An output folder built under a temporary name beside its target and renamed into place by
// commit(); destroyed without commit() it removes itself, so a failed or cancelled job leaves
// nothing behind. An existing target is refused unless `overwrite` is set. Every job that writes
// a folder goes through this, so it is also the one place that keeps outputs off their sources:
// a target that is, contains or sits inside one of `sources` is refused, `overwrite` or not.
#include <filesystem>
#include <vector>

namespace hqq {

class OutputFolder {
 public:
  OutputFolder(std::filesystem::path target, bool overwrite,
               const std::vector<std::filesystem::path>& sources = {});
  ~OutputFolder();
  OutputFolder(const OutputFolder&) = delete;
  OutputFolder& operator=(const OutputFolder&) = delete;

  const std::filesystem::path& path() const { return tmp_; }  // where to write now
  const std::filesystem::path& target() const { return target_; }
  // Copies what the existing target holds into the temporary folder (a resumed run continues
  // from its checkpoint and log; the target is replaced only at commit).
  void copy_existing_target();
  void commit();

 private:
  std::filesystem::path target_, tmp_;
  bool overwrite_ = false, committed_ = false;
};

// Throws InputError when `target` (after resolving symlinks, "..", a trailing slash) equals,
// contains or lies inside any of `sources` (files or folders); empty sources are ignored.
void refuse_output_over_sources(const std::filesystem::path& target,
                                const std::vector<std::filesystem::path>& sources);

// The same rules for an output that is one file (written atomically by its writer): refused
// when it equals, contains or lies inside a source, when it is a folder, or when it exists and
// `overwrite` is not set. Throws InputError naming `target`.
void refuse_output_file(const std::filesystem::path& target, bool overwrite,
                        const std::vector<std::filesystem::path>& sources);

// A one-file output as a job receives it: where, whether an existing file may be replaced, and
// the inputs it must never land on. The job calls refuse_output_file(path, overwrite, sources)
// itself before writing, so every caller (CLI, GUI, tests) gets the same guard.
struct OutputFile {
  std::filesystem::path path;
  bool overwrite = false;
  std::vector<std::filesystem::path> sources;
};

// Copies the tokenizer and generation files a model folder carries (those that exist).
void copy_tokenizer_files(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace hqq
