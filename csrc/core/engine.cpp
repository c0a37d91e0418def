// make_engine (engine.h): the one place that knows every backend.
#include "core/engine.h"

#include <stdexcept>

#include "cpu/cpu_engine.h"
#ifdef WAVENET_RT_WITH_CUDA
#include "cuda/cuda_engine.h"
#endif

namespace wavenet_rt {

std::unique_ptr<Engine> make_engine(const std::string& backend, const HostWeights& weights,
                                    const EngineOptions& options) {
  if (options.sleep_after_frames < 0) throw std::invalid_argument("sleep_after_frames must be >= 0");
  if (backend == "cpu") return std::make_unique<cpu::CpuEngine>(weights, options);
#ifdef WAVENET_RT_WITH_CUDA
  if (backend == "cuda") return make_cuda_engine(weights, options);
#endif
  throw std::invalid_argument("unknown or unavailable engine backend '" + backend + "'");
}

}  // namespace wavenet_rt
