// The sine excitation of wavenet_rt/excitation.py (the float64 reference) for every engine: at sample t,
// the sum over held keys of roll value x sin and x cos of the key's phase. Phases are computed in double
// and taken modulo one cycle before the sine, as the reference does; host/device portable.
#pragma once

#include <cmath>
#include <cstdint>

#include "sampling.h"  // WAVENET_RT_HD

namespace wavenet_rt {

constexpr int kExcitationKeys = 88;  // the roll's first channels: piano keys A0 (MIDI 21) .. C8
constexpr int kExcitationLowestNote = 21;

// Equal-tempered pitch of roll channel `key` in Hz (A4 = 440).
inline double excitation_key_hz(int key) {
  return 440.0 * std::pow(2.0, (key + kExcitationLowestNote - 69) / 12.0);
}

// sin and cos of a key's phase at stream sample t.
WAVENET_RT_HD void excitation_phase(double hz, uint64_t t, int sample_rate, double* s, double* c) {
  const double cycles = hz * static_cast<double>(t) / sample_rate;
  const double angle = 2.0 * 3.14159265358979323846 * (cycles - floor(cycles));
  *s = sin(angle);
  *c = cos(angle);
}

}  // namespace wavenet_rt
