#include "core/base/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/base/error.h"

namespace hqq {

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw Error(path + ": write failed: " + std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

int make_temp(const std::string& path, std::string* tmp_path) {
  std::string tmpl = path + ".tmp-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  int fd = ::mkstemp(buf.data());
  if (fd < 0) throw Error(path + ": cannot create temporary file: " + std::strerror(errno));
  *tmp_path = buf.data();
  return fd;
}

void commit_temp(int fd, const std::string& tmp, const std::string& path) {
  if (::fsync(fd) != 0) throw Error(tmp + ": fsync failed: " + std::strerror(errno));
  ::fchmod(fd, 0644);
  if (::close(fd) != 0) throw Error(tmp + ": close failed: " + std::strerror(errno));
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw Error(path + ": rename from temporary file failed: " + std::strerror(errno));
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  std::string tmp;
  int fd = make_temp(path, &tmp);
  try {
    write_all(fd, contents.data(), contents.size(), tmp);
    commit_temp(fd, tmp, path);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

}  // namespace hqq
