// Device-side twin of csrc/core/sampling.h's RNG, exposed for tests: the CUDA engine must draw exactly the
// numbers the CPU engine draws. Compiled whenever nvcc is found (WAVENET_RT_CUDA=AUTO).
#include "cuda/device_check.h"

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "core/sampling.h"

namespace wavenet_rt {
namespace {

__global__ void sampling_uniforms_kernel(uint64_t seed, uint32_t stream, uint64_t start, int64_t n,
                                         float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = sampling_uniform(seed, stream, start + static_cast<uint64_t>(i));
}

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
  }
}

}  // namespace

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error so later calls start clean
    return 0;
  }
  return count;
}

void cuda_sampling_uniforms(uint64_t seed, uint32_t stream, uint64_t start, int64_t n, float* out) {
  if (n <= 0) return;
  float* device_out = nullptr;
  check(cudaMalloc(&device_out, n * sizeof(float)), "cudaMalloc");
  constexpr int kThreads = 256;
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  sampling_uniforms_kernel<<<static_cast<unsigned>(blocks), kThreads>>>(seed, stream, start, n, device_out);
  cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) {
    status = cudaMemcpy(out, device_out, n * sizeof(float), cudaMemcpyDeviceToHost);
  }
  cudaFree(device_out);
  check(status, "sampling_uniforms_kernel");
}

}  // namespace wavenet_rt
