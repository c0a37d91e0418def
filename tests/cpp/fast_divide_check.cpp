// The CUDA kernel's division by launch-fixed divisors (csrc/cuda/fast_divide.h) against the CPU's `/` and
// `%`: every divisor up to 4096 (channel counts, streams, taps), each with numerators near every multiple
// of the divisor and random ones up to 2^31 - 1, plus the largest divisors. Exit 0 = pass.
#include <cstdint>
#include <cstdio>
#include <random>

#include "cuda/fast_divide.h"

namespace {

int failures = 0;

void expect(const wavenet_rt::cuda::Divider& d, int n) {
  const int divisor = static_cast<int>(d.divisor);
  if (d.div(n) != n / divisor || d.mod(n) != n % divisor) {
    if (++failures <= 10) std::printf("FAIL: %d / %d gave %d rem %d\n", n, divisor, d.div(n), d.mod(n));
  }
}

}  // namespace

int main() {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> any(0, INT32_MAX);
  long long checked = 0;
  for (int divisor = 1; divisor <= 4096; ++divisor) {
    const wavenet_rt::cuda::Divider d(static_cast<uint32_t>(divisor));
    for (int n = 0; n < 64 * divisor; ++n, ++checked) expect(d, n);  // every index a small launch uses
    for (int k = 0; k < 2000; ++k, checked += 3) {
      const int n = any(rng);
      expect(d, n);
      const int near = n / divisor * divisor;  // both sides of a multiple
      expect(d, near);
      if (near > 0) expect(d, near - 1);
    }
    expect(d, INT32_MAX);
  }
  for (uint32_t divisor : {65536u, 1000003u, 1u << 30, (1u << 31) - 1}) {
    const wavenet_rt::cuda::Divider d(divisor);
    for (int k = 0; k < 100000; ++k, ++checked) expect(d, any(rng));
    expect(d, INT32_MAX);
    expect(d, 0);
  }
  std::printf("fast_divide_check: %lld divisions, %d wrong\n", checked, failures);
  return failures ? 1 : 0;
}
