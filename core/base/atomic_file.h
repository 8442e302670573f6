#pragma once
// Files that appear whole or not at all: written to a temporary file beside the target, synced,
// then renamed over it. Every output of the product goes through these.
#include <cstddef>
#include <string>

namespace hqq {

// Writes all n bytes to fd (retrying short writes and EINTR); errors name path.
void write_all(int fd, const void* data, size_t n, const std::string& path);

// Creates "<path>.tmp-XXXXXX" and returns its descriptor; *tmp_path receives its name.
int make_temp(const std::string& path, std::string* tmp_path);

// fsync, close, rename tmp over path. The caller unlinks tmp if this throws.
void commit_temp(int fd, const std::string& tmp, const std::string& path);

// Writes a text file atomically (temporary file + rename).
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace hqq
