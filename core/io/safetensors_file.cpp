#include "core/io/safetensors_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/base/error.h"

namespace hqq {

at::ScalarType to_scalar_type(DType t) {
  switch (t) {
    case DType::BOOL:
      return at::kBool;
    case DType::U8:
      return at::kByte;
    case DType::I8:
      return at::kChar;
    case DType::I16:
      return at::kShort;
    case DType::I32:
      return at::kInt;
    case DType::I64:
      return at::kLong;
    case DType::F16:
      return at::kHalf;
    case DType::BF16:
      return at::kBFloat16;
    case DType::F32:
      return at::kFloat;
    case DType::F64:
      return at::kDouble;
  }
  throw Error("unknown dtype");
}

DType from_scalar_type(at::ScalarType t) {
  switch (t) {
    case at::kBool:
      return DType::BOOL;
    case at::kByte:
      return DType::U8;
    case at::kChar:
      return DType::I8;
    case at::kShort:
      return DType::I16;
    case at::kInt:
      return DType::I32;
    case at::kLong:
      return DType::I64;
    case at::kHalf:
      return DType::F16;
    case at::kBFloat16:
      return DType::BF16;
    case at::kFloat:
      return DType::F32;
    case at::kDouble:
      return DType::F64;
    default:
      throw Error(std::string("safetensors cannot store dtype ") + c10::toString(t));
  }
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_input(path, std::string("cannot open: ") + std::strerror(errno));
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->fd_ = fd;  // closed by the destructor, also when this function throws
  f->path_ = path;
  f->self_ = f;
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_input(path, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail_input(path, "not a regular file");
  size_t size = static_cast<size_t>(st.st_size);
  if (size > 0) {
    void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) fail_input(path, std::string("cannot map: ") + std::strerror(errno));
    f->map_ = m;
    f->map_len_ = size;
  }
  f->header_ = parse_safetensors_header(static_cast<const uint8_t*>(f->map_), size, size, path);
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_len_);
  if (fd_ >= 0) ::close(fd_);
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const TensorEntry* e = header_.find(name);
  if (!e) fail_input(path_, "no tensor named '" + name + "'");
  return tensor(*e);
}

at::Tensor SafetensorsFile::tensor(const TensorEntry& e) const {
  auto opts = at::TensorOptions().dtype(to_scalar_type(e.dtype));
  if (e.nbytes() == 0) return at::empty(e.shape, opts);
  auto* data = static_cast<uint8_t*>(map_) + header_.data_offset() + e.begin;
  std::shared_ptr<const SafetensorsFile> keep = self_.lock();
  at::Tensor view = at::from_blob(
      data, e.shape, [keep](void*) mutable { keep.reset(); }, opts);
  // Vectorised kernels may assume natural alignment; the format does not promise it.
  if (reinterpret_cast<uintptr_t>(data) % dtype_size(e.dtype) != 0) return view.clone();
  return view;
}

void SafetensorsFile::release(const TensorEntry& e) const {
  if (!map_ || e.nbytes() == 0) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t begin = reinterpret_cast<uintptr_t>(map_) + header_.data_offset() + e.begin;
  uintptr_t end = begin + e.nbytes();
  begin = (begin + page - 1) / page * page;  // whole pages inside the tensor only
  end = end / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

void SafetensorsFile::read(const TensorEntry& e, uint64_t offset, void* dst, size_t len) const {
  if (offset > e.nbytes() || len > e.nbytes() - offset)
    throw Error(path_ + ": read past the end of tensor '" + e.name + "'");
  auto* out = static_cast<uint8_t*>(dst);
  uint64_t pos = header_.data_offset() + e.begin + offset;
  while (len > 0) {
    const ssize_t n = ::pread(fd_, out, len, static_cast<off_t>(pos));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_input(path_, "cannot read tensor '" + e.name + "': " + std::strerror(errno));
    if (n == 0) fail_input(path_, "ends inside tensor '" + e.name + "' (was it truncated?)");
    out += n, pos += static_cast<uint64_t>(n), len -= static_cast<size_t>(n);
  }
}

}  // namespace hqq
