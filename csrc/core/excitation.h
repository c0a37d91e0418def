// The period taps of wavenet_rt/excitation.py (the float64 reference) for every engine: at step t, the
// mean over the keys held in the current frame of the input one key period before the sample being
// predicted (t + 1), as a companded amplitude, linearly interpolated between two past inputs.
#pragma once

#include <cmath>

#include "core/host_device.h"

namespace wavenet_rt {

constexpr int kExcitationKeys = 88;  // the roll's first channels: piano keys A0 (MIDI 21) .. C8
constexpr int kExcitationLowestNote = 21;

// Where a key's tap reads: (1 - frac) * input[t - back] + frac * input[t - back + 1], the input at
// position t + 1 - period. With P the period in samples, back = ceil(P) - 1 and frac = ceil(P) - P.
// Keys at or above the Nyquist frequency (P <= 2, back < 2) have no tap: they count as not held.
struct PeriodTap {
  int back;
  double frac;
};

constexpr int kMinTapBack = 2;  // so a tap never reads the current step's input (the CUDA kernel relies on it)

inline PeriodTap period_tap(int key, int sample_rate) {
  const double hz = 440.0 * std::pow(2.0, (key + kExcitationLowestNote - 69) / 12.0);  // A4 = 440
  const double period = sample_rate / hz;
  const double up = std::ceil(period);
  return {static_cast<int>(up) - 1, up - period};
}

// A class's companded amplitude in [-1, 1]: what the history holds.
WAVENET_RT_HD float companded(int code, int classes) { return 2.0f * code / (classes - 1) - 1.0f; }

// Past inputs a stream keeps: a power of two above the lowest key's tap (A0 at 48 kHz: 1746).
inline int period_history(int sample_rate) {
  const int needed = period_tap(0, sample_rate).back + 2;
  int length = 1;
  while (length < needed) length *= 2;
  return length;
}

// One key's tap from a history ring (length a power of two, index = sample position & mask) at step t.
WAVENET_RT_HD double period_tap_value(const float* history, int mask, long long t, int back, double frac) {
  const long long base = t - back;
  return (1.0 - frac) * history[base & mask] + frac * history[(base + 1) & mask];
}

}  // namespace wavenet_rt
