// A clock for each sounding key: the age channels of the "..._age88" feature sets. A held note's level is
// carried by the network's loop alone past its receptive field, and it drones on; a clock per note lets it
// know how long the note has sounded (docs/experiments/2026-12-08-notes-that-do-not-die-away.md).
#pragma once

#include <cmath>

#include "midi/keyboard.h"

namespace wavenet_rt {

constexpr double kAgeSeconds = 1.0;  // the clock's time constant: exp(-age / 1 s)

// Reads only the roll and onset channels of frames already made, so that the stored frames of a dataset give
// a training window the clock the conditioner gives a live stream. A key's clock starts at 1 on the frame
// where it starts sounding or its onset lights, falls by exp(-hop / rate / kAgeSeconds) a frame while it
// sounds, and reads 0 while it is silent.
class NoteAge {
 public:
  NoteAge(int hop, int sample_rate)
      : per_frame_(static_cast<float>(std::exp(-static_cast<double>(hop) / sample_rate / kAgeSeconds))) {}

  // roll, onset, age: channel k's frame i at [k * stride + i], for `count` frames following the last call's.
  void fill(const float* roll, const float* onset, float* age, long stride, int count) {
    for (int key = 0; key < kKeys; ++key) {
      const float* r = roll + key * stride;
      const float* o = onset + key * stride;
      float* a = age + key * stride;
      for (int i = 0; i < count; ++i) {
        const bool sounding = r[i] > 0.0f, lit = o[i] > 0.0f;
        clock_[key] = !sounding ? 0.0f : (lit && !lit_[key]) || !sounding_[key] ? 1.0f : clock_[key] * per_frame_;
        sounding_[key] = sounding;
        lit_[key] = lit;
        a[i] = clock_[key];
      }
    }
  }

 private:
  float per_frame_;
  float clock_[kKeys] = {};
  bool sounding_[kKeys] = {};
  bool lit_[kKeys] = {};
};

}  // namespace wavenet_rt
