// libFuzzer target for the safetensors header parser: any input must either parse or raise an
// InputError; anything else (a crash, a sanitizer report, another exception) is a bug.
#include <cstddef>
#include <cstdint>

#include "core/base/error.h"
#include "core/io/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    hqq::SafetensorsHeader h = hqq::parse_safetensors_header(data, size, size, "fuzz-input");
    // A parsed header must describe a buffer that fits in the input.
    for (const auto& t : h.tensors)
      if (h.data_offset() + t.end > size) __builtin_trap();
  } catch (const hqq::InputError&) {
  }
  return 0;
}
