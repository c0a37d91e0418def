// When a stream sleeps (EngineOptions::sleep_after_frames): the count of frames in a row that hold no key,
// and the test on it. One definition for the CPU engine and the CUDA kernel, which keep the count per
// stream across blocks.
#pragma once

#include "core/host_device.h"

namespace wavenet_rt {

// The count right after reset(): no key has been down since, so every stream starts asleep.
WAVENET_RT_HD int quiet_frames_at_reset(int sleep_after_frames) { return sleep_after_frames; }

// The count after reading a frame at one sample: a key wakes the stream at once; an empty frame counts
// once, at its first sample (a frame read again at a block's start does not count twice), up to the limit.
WAVENET_RT_HD int count_quiet_frame(int quiet, bool key, bool frame_start, int sleep_after_frames) {
  if (key) return 0;
  return frame_start && quiet < sleep_after_frames ? quiet + 1 : quiet;
}

// Whether a stream with this count plays the silence code instead of its draw (0: sleeping is off).
WAVENET_RT_HD bool is_asleep(int quiet, int sleep_after_frames) {
  return sleep_after_frames > 0 && quiet >= sleep_after_frames;
}

}  // namespace wavenet_rt
