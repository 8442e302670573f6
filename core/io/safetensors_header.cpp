#include "core/io/safetensors_header.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/base/json_file.h"

namespace hqq {
namespace {

struct DTypeInfo {
  DType type;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::BOOL, "BOOL", 1}, {DType::U8, "U8", 1},     {DType::I8, "I8", 1},
    {DType::I16, "I16", 2},   {DType::I32, "I32", 4},   {DType::I64, "I64", 8},
    {DType::F16, "F16", 2},   {DType::BF16, "BF16", 2}, {DType::F32, "F32", 4},
    {DType::F64, "F64", 8},
};

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

TensorEntry parse_entry(const std::string& name, const nlohmann::json& v,
                        const std::string& label) {
  auto bad = [&](const std::string& what) { fail_input(label, "tensor '" + name + "': " + what); };
  if (!v.is_object()) bad("entry is not a JSON object");
  TensorEntry e;
  e.name = name;
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) bad("missing or non-string \"dtype\"");
  auto parsed = dtype_from_name(dt->get<std::string>());
  if (!parsed) bad("unknown or unsupported dtype \"" + dt->get<std::string>() + "\"");
  e.dtype = *parsed;
  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) bad("missing or non-array \"shape\"");
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0))
      bad("shape entries must be non-negative integers");
    uint64_t dim = d.get<uint64_t>();
    if (dim > (uint64_t{1} << 62)) bad("shape dimension too large");
    e.shape.push_back(static_cast<int64_t>(dim));
  }
  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    bad("\"data_offsets\" must be two non-negative integers");
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  if (e.end < e.begin) bad("data_offsets end before begin");
  uint64_t bytes = dtype_size(e.dtype);
  for (int64_t d : e.shape)
    if (mul_overflows(bytes, static_cast<uint64_t>(d), &bytes)) bad("shape overflows 64 bits");
  if (bytes != e.nbytes())
    bad("byte length " + std::to_string(e.nbytes()) + " does not match dtype " +
        dtype_name(e.dtype) + " x shape (" + std::to_string(bytes) + " bytes)");
  return e;
}

}  // namespace

size_t dtype_size(DType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d.size;
  return 0;
}

const char* dtype_name(DType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d.name;
  return "?";
}

std::optional<DType> dtype_from_name(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return d.type;
  return std::nullopt;
}

uint64_t TensorEntry::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

const TensorEntry* SafetensorsHeader::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* head, size_t head_len, uint64_t file_size,
                                           const std::string& label) {
  if (file_size < 8 || head_len < 8)
    fail_input(label, "truncated safetensors file (" + std::to_string(file_size) +
                          " bytes, the 8-byte header length is missing)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | head[i];
  if (n > kMaxHeaderBytes)
    fail_input(label, "header length " + std::to_string(n) + " exceeds the 100 MB limit");
  if (n > file_size - 8)
    fail_input(label, "header length " + std::to_string(n) + " goes beyond the end of the file (" +
                          std::to_string(file_size) + " bytes)");
  if (head_len < 8 + n) fail_input(label, "header could not be read completely");

  nlohmann::json j = parse_json_text(std::string_view(reinterpret_cast<const char*>(head + 8), n),
                                     label + " header");
  if (!j.is_object()) fail_input(label, "header JSON is not an object");

  SafetensorsHeader h;
  h.header_bytes = n;
  h.data_bytes = file_size - 8 - n;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) fail_input(label, "\"__metadata__\" is not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string())
          fail_input(label, "\"__metadata__\" value of '" + m.key() + "' is not a string");
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_entry(it.key(), it.value(), label));
  }
  std::stable_sort(h.tensors.begin(), h.tensors.end(),
                   [](const TensorEntry& a, const TensorEntry& b) {
                     return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                   });
  // The buffer must be covered exactly: each tensor starts where the previous one ended.
  uint64_t expect = 0;
  for (const auto& t : h.tensors) {
    if (t.end > h.data_bytes)
      fail_input(label, "tensor '" + t.name + "': data_offsets [" + std::to_string(t.begin) + ", " +
                            std::to_string(t.end) + ") out of range (data buffer is " +
                            std::to_string(h.data_bytes) + " bytes; file truncated?)");
    if (t.begin < expect)
      fail_input(label, "tensor '" + t.name + "': data_offsets overlap the previous tensor");
    if (t.begin > expect)
      fail_input(label, "tensor '" + t.name + "': gap of " + std::to_string(t.begin - expect) +
                            " bytes before its data");
    expect = t.end;
  }
  if (expect != h.data_bytes)
    fail_input(label, std::to_string(h.data_bytes - expect) +
                          " trailing bytes after the last tensor are not covered by the header");
  return h;
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_input(path, std::string("cannot open: ") + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_input(path, std::string("cannot stat: ") + std::strerror(errno));
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint8_t len_bytes[8] = {};
  ssize_t got = size >= 8 ? ::pread(fd, len_bytes, 8, 0) : 0;
  if (got != 8) return parse_safetensors_header(len_bytes, 0, size, path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > kMaxHeaderBytes || n > size - 8)
    return parse_safetensors_header(len_bytes, 8, size, path);
  std::vector<uint8_t> head(8 + n);
  std::memcpy(head.data(), len_bytes, 8);
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, head.data() + 8 + done, n - done, static_cast<off_t>(8 + done));
    if (r <= 0) fail_input(path, "read error in the header");
    done += static_cast<size_t>(r);
  }
  return parse_safetensors_header(head.data(), head.size(), size, path);
}

}  // namespace hqq
