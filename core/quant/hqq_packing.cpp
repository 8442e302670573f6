#include "core/quant/hqq_packing.h"

#include "core/base/error.h"

namespace hqq {

int codes_per_element(int nbits) {
  switch (nbits) {
    case 8:
      return 1;
    case 4:
      return 2;
    case 3:
      return 10;
    case 2:
      return 4;
    case 1:
      return 8;
  }
  throw Error("unsupported nbits " + std::to_string(nbits) + " (supported: 1, 2, 3, 4, 8)");
}

std::string packing_name(int nbits) {
  codes_per_element(nbits);
  return nbits == 3 ? "3bit_32" : std::to_string(nbits) + "bit_u8";
}

std::vector<int64_t> packed_shape(int nbits, int64_t rows, int64_t cols) {
  const int k = codes_per_element(nbits);
  return {nbits == 3 ? (rows + k - 1) / k : rows / k, cols};
}

at::Tensor pack_codes(const at::Tensor& codes_in, int nbits) {
  if (codes_in.dim() != 2 || codes_in.scalar_type() != at::kByte)
    throw Error("pack_codes: codes must be uint8 [R, C]");
  const int k = codes_per_element(nbits);
  at::Tensor codes = codes_in.contiguous();
  const int64_t R = codes.size(0), C = codes.size(1);
  if (nbits != 3 && R % k != 0)
    throw Error("pack_codes: " + std::to_string(R) + " grouped rows are not divisible by " +
                std::to_string(k) + " as " + std::to_string(nbits) + "-bit packing requires");
  const uint8_t* c = codes.data_ptr<uint8_t>();
  if (nbits == 3) {
    const int64_t P = (R + k - 1) / k;  // rows zero-padded to a multiple of 10
    at::Tensor out = at::zeros({P, C}, at::kInt);
    int32_t* o = out.data_ptr<int32_t>();
    for (int b = 0; b < k; ++b) {
      const int shift = 27 - 3 * b;
      for (int64_t i = 0; i < P; ++i) {
        const int64_t r = i + b * P;
        if (r >= R) break;
        for (int64_t j = 0; j < C; ++j)
          o[i * C + j] |= static_cast<int32_t>(c[r * C + j] & 7u) << shift;
      }
    }
    return out;
  }
  const int64_t P = R / k;
  at::Tensor out = at::zeros({P, C}, at::kByte);
  uint8_t* o = out.data_ptr<uint8_t>();
  const uint8_t mask = static_cast<uint8_t>((1u << nbits) - 1);
  for (int b = 0; b < k; ++b) {
    const int shift = nbits * (k - 1 - b);
    const uint8_t* src = c + b * P * C;
    for (int64_t i = 0; i < P * C; ++i) o[i] |= static_cast<uint8_t>((src[i] & mask) << shift);
  }
  return out;
}

at::Tensor unpack_codes(const at::Tensor& packed_in, int nbits, int64_t rows) {
  const int k = codes_per_element(nbits);
  at::Tensor packed = packed_in.contiguous();
  const int64_t P = packed.size(0), C = packed.size(1);
  if (rows > P * k || (nbits != 3 && rows != P * k))
    throw Error("unpack_codes: " + std::to_string(P) + " packed rows cannot hold " +
                std::to_string(rows) + " rows");
  at::Tensor out = at::empty({rows, C}, at::kByte);
  uint8_t* o = out.data_ptr<uint8_t>();
  if (nbits == 3) {
    if (packed.scalar_type() != at::kInt) throw Error("unpack_codes: 3-bit codes must be int32");
    const int32_t* p = packed.data_ptr<int32_t>();
    for (int b = 0; b < k; ++b)
      for (int64_t i = 0; i < P; ++i) {
        const int64_t r = i + b * P;
        if (r >= rows) break;
        for (int64_t j = 0; j < C; ++j)
          o[r * C + j] = static_cast<uint8_t>((p[i * C + j] >> (27 - 3 * b)) & 7);
      }
    return out;
  }
  if (packed.scalar_type() != at::kByte) throw Error("unpack_codes: codes must be uint8");
  const uint8_t* p = packed.data_ptr<uint8_t>();
  const uint8_t mask = static_cast<uint8_t>((1u << nbits) - 1);
  for (int b = 0; b < k; ++b) {
    const int shift = nbits * (k - 1 - b);
    for (int64_t i = 0; i < P * C; ++i)
      o[b * P * C + i] = static_cast<uint8_t>((p[i] >> shift) & mask);
  }
  return out;
}

}  // namespace hqq
