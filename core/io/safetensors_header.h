#pragma once
// The safetensors header: parsing and validation only, no torch, so that the fuzzer and the
// `hqq info` path can use it without touching tensor data.
//
// Layout: u64 little-endian header length N, N bytes of JSON, then the byte buffer. The JSON maps
// tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the buffer)
// plus an optional "__metadata__" string map. Every rule of the format is checked here.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hqq {

enum class DType { BOOL, U8, I8, I16, I32, I64, F16, BF16, F32, F64 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // safetensors spelling: "F32", "BF16", ...
std::optional<DType> dtype_from_name(const std::string& name);

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data buffer
  uint64_t end = 0;
  uint64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

struct SafetensorsHeader {
  uint64_t header_bytes = 0;  // N, the JSON length
  uint64_t data_offset() const { return 8 + header_bytes; }
  uint64_t data_bytes = 0;           // size of the byte buffer
  std::vector<TensorEntry> tensors;  // in file order (sorted by offset)
  std::map<std::string, std::string> metadata;
  const TensorEntry* find(const std::string& name) const;
  // The __metadata__ value of `key`, or "" when absent.
  std::string meta(const std::string& key) const {
    auto it = metadata.find(key);
    return it == metadata.end() ? std::string() : it->second;
  }
};

// Largest JSON header accepted (the format's own limit is 100 MB).
inline constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;

// Parses and validates. `head` holds the first bytes of the file (at least 8 + N of them when
// available), `file_size` is the size of the whole file and `label` names it in errors.
// Throws InputError on any violation.
SafetensorsHeader parse_safetensors_header(const uint8_t* head, size_t head_len, uint64_t file_size,
                                           const std::string& label);

// Reads and validates only the header of a file, never its tensor data.
SafetensorsHeader read_safetensors_header(const std::string& path);

}  // namespace hqq
