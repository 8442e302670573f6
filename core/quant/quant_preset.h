#pragma once
// The quantization presets offered by the CLI and the GUI, and what each costs in storage.
#include <string>
#include <vector>

namespace hqq {

struct QuantPreset {
  std::string name;  // "4bit-g64", ...
  int bits;
  int group_size;
};

inline const std::vector<QuantPreset>& quant_presets() {
  static const std::vector<QuantPreset> kPresets = {
      {"8bit-g128", 8, 128}, {"4bit-g64", 4, 64}, {"3bit-g64", 3, 64},
      {"2bit-g64", 2, 64},   {"2bit-g32", 2, 32}, {"2bit-g16", 2, 16},
      {"1bit-g32", 1, 32},   {"1bit-g16", 1, 16}, {"1bit-g8", 1, 8},
  };
  return kPresets;
}

// Storage bits per weight with fp16 scale and zero per group: codes plus 32 / group bits.
// 3-bit codes are stored ten to an int32, i.e. 3.2 bits each.
inline double bits_per_weight(int bits, int group_size) {
  double code_bits = bits == 3 ? 3.2 : static_cast<double>(bits);
  return code_bits + 32.0 / static_cast<double>(group_size);
}

}  // namespace hqq
