// WAVENET_RT_HD marks a function that host code and CUDA kernels both call: one definition of each shared
// rule (sampling, period taps, block frames, sleep) compiled for the CPU engine and the GPU alike.
#pragma once

#if defined(__CUDACC__)
#define WAVENET_RT_HD __host__ __device__ __forceinline__
#else
#define WAVENET_RT_HD inline
#endif
