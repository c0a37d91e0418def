// The conditioning frames a block of samples touches: samples t0 .. t0 + n - 1 read frames t0 / hop ..
// (t0 + n - 1) / hop. One definition for the CPU and CUDA engines and the performer (Python's twin:
// wavenet_rt/block.py).
#pragma once

#include <cstdint>

#include "core/host_device.h"

namespace wavenet_rt {

// The first frame that samples from t0 on read.
WAVENET_RT_HD int64_t block_first_frame(uint64_t t0, int hop) { return static_cast<int64_t>(t0 / hop); }

// How many frames samples t0 .. t0 + n - 1 read (0 for an empty block).
WAVENET_RT_HD int block_frames(uint64_t t0, int n, int hop) {
  return n > 0 ? static_cast<int>((t0 + n - 1) / hop - t0 / hop + 1) : 0;
}

}  // namespace wavenet_rt
