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

// Two-level presets (twolevel_format.h): sub-group scale and zero stored as small integers under
// one fp16 pair per super-group. `mix`: modules ("self_attn.v_proj", ...) that get `mix_bits`
// codes and `mix_group` sub-groups instead (like llama.cpp's default k-quant mixes).
struct TwoLevelPreset {
  std::string name;
  int bits;
  int group_size;
  int scale_bits, zero_bits;
  int super_group;
  std::vector<std::string> mix = {};
  int mix_bits = 0, mix_group = 0;
};

inline const std::vector<TwoLevelPreset>& twolevel_presets() {
  static const std::vector<TwoLevelPreset> kPresets = {
      // 1-bit codes: two levels per sub-group, (0 − z)·s and (1 − z)·s, both chosen by the
      // solver; below every plain format (1-bit g32 with fp16 meta is 2.0 bits per weight).
      {"1bit-tl-g32", 1, 32, 4, 4, 256},  // 1 + 8/32 + 32/256 = 1.375 bits per weight
      {"1bit-tl-g16", 1, 16, 4, 4, 256},  // 1 + 8/16 + 32/256 = 1.625
      {"2bit-tl-g64", 2, 64, 4, 4, 256},  // 2 + 8/64 + 32/256 = 2.25 bits per weight
      {"2bit-tl-g16", 2, 16, 4, 4, 256},  // 2 + 8/16 + 32/256 = 2.625
      // 2.625 everywhere but 3.375 on v_proj and down_proj: 2.84 on Llama shapes
      {"2bit-tl-mix", 2, 16, 4, 4, 256, {"self_attn.v_proj", "mlp.down_proj"}, 3, 32},
      {"3bit-tl-g64", 3, 64, 4, 4, 256},  // 3 + 8/64 + 32/256 = 3.25
      {"3bit-tl-g32", 3, 32, 4, 4, 256},  // 3 + 8/32 + 32/256 = 3.375
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
