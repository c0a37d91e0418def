// The CUDA engine's one entry point, free of CUDA headers so csrc/core/engine.cpp (plain C++) can build it.
// The engine itself (device buffers, weight slicing, cluster sizing, launches) is in cuda_engine.cu; the
// kernel in wavenet_kernel.cuh.
#pragma once

#include <memory>

#include "core/engine.h"

namespace wavenet_rt {

// Throws std::invalid_argument for weights or options it cannot run, std::runtime_error when there is
// no usable CUDA device or a CUDA call fails. options.precision: "fp32", "fp16" or "bf16".
std::unique_ptr<Engine> make_cuda_engine(const HostWeights& weights, const EngineOptions& options);

}  // namespace wavenet_rt
