// IEEE 754 half-precision conversion in portable C++, for the CPU engine's fp16 weight mode: packing
// (float -> half, round to nearest even) and the portable kernels (half -> float). The SIMD kernels
// convert with F16C / AVX-512 instructions instead and must not include this file.
#pragma once

#include <cstdint>
#include <cstring>

namespace wavenet_rt::cpu {

inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu;
  uint32_t bits;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | (mantissa << 13);  // inf, nan
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal half: value = mantissa * 2^-24, exact in float
    float value = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
    std::memcpy(&bits, &value, sizeof(bits));
    bits |= sign;
  }
  float out;
  std::memcpy(&out, &bits, sizeof(out));
  return out;
}

inline uint16_t float_to_half(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) return sign | 0x7C00u | (abs > 0x7F800000u ? 0x200u : 0u);  // inf, nan
  if (abs >= 0x477FF000u) return sign | 0x7C00u;  // rounds above 65504: inf
  if (abs < 0x38800000u) {  // below the smallest normal half: subnormal or zero, rounded to nearest even
    float magnitude;
    std::memcpy(&magnitude, &abs, sizeof(magnitude));
    const float scaled = magnitude * 16777216.0f;  // in units of 2^-24
    uint32_t q = static_cast<uint32_t>(scaled);
    const float rest = scaled - static_cast<float>(q);
    if (rest > 0.5f || (rest == 0.5f && (q & 1u))) ++q;
    return sign | static_cast<uint16_t>(q);
  }
  uint32_t half = ((abs - 0x38000000u) >> 13);  // rebias the exponent, drop 13 mantissa bits
  const uint32_t dropped = abs & 0x1FFFu;
  if (dropped > 0x1000u || (dropped == 0x1000u && (half & 1u))) ++half;  // carries into the exponent correctly
  return sign | static_cast<uint16_t>(half);
}

}  // namespace wavenet_rt::cpu
