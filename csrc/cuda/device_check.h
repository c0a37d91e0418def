// Host-callable entry points of the CUDA build that need no CUDA headers, so csrc/python/bindings.cpp (a plain
// C++ file) can expose them. Implemented in device_check.cu; the CUDA engine proper comes with its issue.
#pragma once

#include <cstdint>

namespace wavenet_rt {

// Number of usable CUDA devices; 0 when there is no driver or no GPU (never throws).
int cuda_device_count();

// Fills out[0..n) with sampling_uniform(seed, stream, start + i) computed on device 0, so tests can prove
// the device draws the host's numbers. Throws std::runtime_error on any CUDA error.
void cuda_sampling_uniforms(uint64_t seed, uint32_t stream, uint64_t start, int64_t n, float* out);

}  // namespace wavenet_rt
