// Division by a divisor fixed for a whole launch (channel counts, streams per cluster) as a multiply-high,
// an add and a shift instead of the ~20 dependent instructions of a runtime integer division; exact for
// every numerator below 2^31. Plain C++ where not compiled by nvcc, so tests/cpp/fast_divide_check.cpp
// compares it with `/` and `%` on the CPU.
#pragma once

#include <cstdint>

#include "core/host_device.h"

namespace wavenet_rt::cuda {

// n / d = (mulhi(n, magic) + n) >> shift with shift = ceil(log2 d) and magic = 2^32 (2^shift - d) / d + 1
// (the round-up method; n < 2^31 keeps the sum inside 32 bits).
struct Divider {
  uint32_t divisor = 1, magic = 1, shift = 0;

  Divider() = default;
  WAVENET_RT_HD explicit Divider(uint32_t d) : divisor(d) {
    while (shift < 31 && (1u << shift) < d) ++shift;
    magic = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << shift) - d)) / d + 1);
  }

  WAVENET_RT_HD static uint32_t mulhi(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
    return __umulhi(a, b);
#else
    return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
#endif
  }

  WAVENET_RT_HD int div(int n) const {  // n in [0, 2^31)
    const uint32_t u = static_cast<uint32_t>(n);
    return static_cast<int>((mulhi(u, magic) + u) >> shift);
  }
  WAVENET_RT_HD int mod(int n) const { return n - div(n) * static_cast<int>(divisor); }
};

}  // namespace wavenet_rt::cuda

#undef WAVENET_RT_HD
