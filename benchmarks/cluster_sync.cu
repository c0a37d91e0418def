// What one stream of the CUDA engine waits on per layer, measured alone (issue 21): one cluster barrier
// (cooperative_groups cluster.sync(), as wavenet_kernel.cuh uses it, at the engine's 256 threads per CTA) and
// one distributed-shared-memory round trip (a dependent load from a peer CTA's shared memory), at cluster sizes
// 2/4/8/16. One cluster per launch, timed by CUDA events over many iterations. Prints one JSON object.
// Build: nvcc -O3 -arch=sm_90 -o build/cluster_sync benchmarks/cluster_sync.cu
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <cstdio>

namespace cg = cooperative_groups;

constexpr int kThreads = 256;  // the engine's CTA size (csrc/cuda/kernel_args.h)

__global__ void barriers(int iterations) {
  cg::cluster_group cluster = cg::this_cluster();
  for (int i = 0; i < iterations; ++i) cluster.sync();
}

// Thread 0 of rank 0 follows a chain through its peers' shared memory: each load's address depends on the
// value the previous one returned, so the loads cannot overlap and each costs a full round trip.
__global__ void round_trips(int iterations, int* sink) {
  __shared__ int next_rank;
  cg::cluster_group cluster = cg::this_cluster();
  const int rank = static_cast<int>(cluster.block_rank()), n = static_cast<int>(cluster.num_blocks());
  if (threadIdx.x == 0) next_rank = rank % (n - 1) + 1;  // never rank 0: every hop leaves the CTA
  cluster.sync();  // every peer's slot written before any remote read
  if (rank == 0 && threadIdx.x == 0) {
    int peer = 1;
    for (int i = 0; i < iterations; ++i) {
      peer = *static_cast<volatile int*>(cluster.map_shared_rank(&next_rank, peer));
    }
    *sink = peer;
  }
  cluster.sync();  // peers keep their shared memory until the chain is done
}

template <typename Launch>
float milliseconds(Launch launch) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  launch();  // warm-up
  cudaEventRecord(start);
  launch();
  cudaEventRecord(stop);
  cudaEventSynchronize(stop);
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms;
}

template <typename... Args>
cudaError_t launch_cluster(void (*kernel)(Args...), int size, Args... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(size);
  config.blockDim = dim3(kThreads);
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeClusterDimension;
  attribute.val.clusterDim.x = size;
  attribute.val.clusterDim.y = 1;
  attribute.val.clusterDim.z = 1;
  config.attrs = &attribute;
  config.numAttrs = 1;
  return cudaLaunchKernelEx(&config, kernel, args...);
}

int main() {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess || prop.major < 9) {
    std::printf("{\"error\": \"needs a device of compute capability 9.0 or later\"}\n");
    return 1;
  }
  cudaFuncSetAttribute(barriers, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
  cudaFuncSetAttribute(round_trips, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
  int* sink = nullptr;
  cudaMalloc(&sink, sizeof(int));
  const int iterations = 100000;
  std::printf("{\"device\": \"%s\", \"threads_per_cta\": %d, \"iterations\": %d, \"clusters\": [", prop.name, kThreads,
              iterations);
  const int sizes[] = {2, 4, 8, 16};
  for (int i = 0; i < 4; ++i) {
    const int size = sizes[i];
    cudaError_t error = cudaSuccess;
    const float barrier_ms = milliseconds([&] { error = launch_cluster(barriers, size, iterations); });
    if (error == cudaSuccess) error = cudaDeviceSynchronize();
    const float trip_ms = milliseconds([&] { error = launch_cluster(round_trips, size, iterations, sink); });
    if (error == cudaSuccess) error = cudaDeviceSynchronize();
    std::printf("%s{\"size\": %d, ", i ? ", " : "", size);
    if (error != cudaSuccess) {
      std::printf("\"error\": \"%s\"}", cudaGetErrorString(error));
      cudaGetLastError();  // a refused size (e.g. 16 without non-portable clusters) is reported, not fatal
      continue;
    }
    std::printf("\"barrier_ns\": %.1f, \"dsmem_round_trip_ns\": %.1f}", barrier_ms * 1e6f / iterations,
                trip_ms * 1e6f / iterations);
  }
  std::printf("]}\n");
  cudaFree(sink);
  return 0;
}
