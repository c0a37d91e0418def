// Input checks every engine applies to a generate()/logits() block before touching its state: the
// conditioning frames (count, finiteness), the global classes and the teacher-forced codes. Header-only
// so each backend's library can use it without linking the others.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/weights.h"

namespace wavenet_rt {

// Throws std::invalid_argument naming the first problem. cond: (streams, cond_channels, frames).
inline void check_block_inputs(const ModelConfig& config, int streams, const float* cond, int frames,
                               int expected_frames, const int32_t* global_ids) {
  if (config.cond_channels) {
    if (cond == nullptr) throw std::invalid_argument("this model needs conditioning frames (cond)");
    if (frames != expected_frames) {
      throw std::invalid_argument("cond must hold " + std::to_string(expected_frames) +
                                  " frames for this block, got " + std::to_string(frames));
    }
    const long values = static_cast<long>(streams) * config.cond_channels * frames;
    for (long i = 0; i < values; ++i) {
      if (!std::isfinite(cond[i])) throw std::invalid_argument("cond holds NaN or infinite values");
    }
  }
  if (config.global_classes) {
    if (global_ids == nullptr) throw std::invalid_argument("this model needs a global class per stream");
    for (int s = 0; s < streams; ++s) {
      if (global_ids[s] < 0 || global_ids[s] >= config.global_classes) {
        throw std::invalid_argument("global id " + std::to_string(global_ids[s]) + " is outside [0, " +
                                    std::to_string(config.global_classes - 1) + "]");
      }
    }
  }
}

// Throws std::invalid_argument for the first code outside [0, classes). codes: count values.
inline void check_codes(const ModelConfig& config, const int32_t* codes, long count) {
  for (long i = 0; i < count; ++i) {
    if (codes[i] < 0 || codes[i] >= config.classes) {
      throw std::invalid_argument("code " + std::to_string(codes[i]) + " is outside [0, " +
                                  std::to_string(config.classes - 1) + "]");
    }
  }
}

}  // namespace wavenet_rt
