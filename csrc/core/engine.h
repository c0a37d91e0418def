// The abstract engine every backend implements (csrc/cpu/, csrc/cuda/), and the one engine header the
// bindings include. An engine is built from host weights in PyTorch layout (weights.h), repacks them its
// own way, and generates several streams sample by sample with cached dilated-convolution state.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/weights.h"

namespace wavenet_rt {

class Engine {
 public:
  virtual ~Engine() = default;

  virtual std::string backend() const = 0;
  virtual std::string details() const = 0;  // e.g. "avx2 kernels, 2 threads"
  virtual int streams() const = 0;
  virtual const ModelConfig& config() const = 0;

  // Back to sample 0. The next generate() starts every stream from an endless silence (the silence code
  // with empty conditioning, under the stream's global class) and draws sample k's uniform from
  // sampling_uniform(seed, stream, k). Allocates nothing.
  virtual void reset(uint64_t seed) = 0;

  // Generates the next n samples of every stream into audio (streams, n), in [-1, 1]. A sleeping stream
  // (EngineOptions::sleep_after_frames) is fed the silence code and plays 0 (the code's centre is not 0: 16
  // sleeping voices would add a -57 dBFS offset); its uniforms go unused.
  // cond: (streams, cond_channels, frames), the frames the block touches: from frame t0 / cond_hop to
  // (t0 + n - 1) / cond_hop, t0 = samples generated since reset (null without local conditioning).
  // global_ids: (streams) or null; temperatures: (streams), below kMinTemperature means argmax.
  // Real-time safe after reset(): no allocation, no lock, no wait on anything but its own threads.
  virtual void generate(int n, const float* cond, int frames, const int32_t* global_ids,
                        const float* temperatures, float* audio) = 0;

  // Teacher-forced logits through the engine's own per-sample path, from the all-zero history of
  // WaveNet.forward: codes (streams, steps), cond (streams, cond_channels, ceil(steps / cond_hop)),
  // out (streams, classes, steps). Leaves the engine in need of reset().
  virtual void logits(const int32_t* codes, int steps, const float* cond, const int32_t* global_ids,
                      float* out) = 0;
};

struct EngineOptions {
  int streams = 1;
  int threads = 0;            // CPU: worker threads (0: one per stream, up to the cores)
  std::string simd = "auto";  // CPU: "auto", "avx512", "avx2" or "portable"
  // weights: "fp32" (exact mode), "fp16" (half the bytes; fp32 arithmetic), "int8" (CPU: a quarter of the
  // bytes, per-output scales, integer sums), "bf16" (CUDA)
  std::string precision = "fp32";
  // A stream whose conditioning frames have held no key for this many frames in a row, or none since
  // reset, sleeps: it is fed the silence code and plays 0 instead of its draws until a frame holds a key
  // again, so a voice whose note has died away adds no hiss (and, on the CPU, costs nothing once its state
  // has settled). 0: never; models without conditioning never sleep.
  int sleep_after_frames = 0;
};

// backend: "cpu" (or "cuda" when built with it). Throws std::invalid_argument on bad weights/options.
std::unique_ptr<Engine> make_engine(const std::string& backend, const HostWeights& weights,
                                    const EngineOptions& options);

}  // namespace wavenet_rt
