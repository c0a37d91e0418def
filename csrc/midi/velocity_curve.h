// A model's velocity curve: a level per struck velocity, in dB at fixed velocities, by which the performer
// scales each voice's stream before the mix. A model trained with `train --velocity-level` learned every
// note at the level of the loudest (its targets divided by the curve, wavenet_rt/velocity_level.py): its
// hiss floor, which does not follow the velocity, sinks with the note, and the curve gives back the steps.
#pragma once

#include <array>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace wavenet_rt {

// The velocities a curve names a trim at (the evaluation's velocity probe strikes the same ones); between
// them the trim is interpolated in dB, below the first and above the last it is theirs.
constexpr std::array<int, 9> kVelocityCurvePoints = {16, 20, 32, 48, 64, 80, 96, 112, 127};
// The largest trim a curve may name: a soundfont's softest notes lie about 36 dB under its loudest.
constexpr float kMaxVelocityTrimDb = 40.0f;
// Samples over which a voice's trim moves to its new note's: a step in a still-sounding tail would click.
// A voice's first note takes its trim at once.
constexpr int kVelocityTrimRamp = 16;

// Empty (no curve) or one trim per point, each finite and within kMaxVelocityTrimDb.
inline bool valid_velocity_curve(const std::vector<float>& db) {
  if (db.empty()) return true;
  if (db.size() != kVelocityCurvePoints.size()) return false;
  for (float d : db) {
    if (!(std::fabs(d) <= kMaxVelocityTrimDb)) return false;
  }
  return true;
}

// The linear gain for each velocity 0..127 (velocity 0 never sounds; it takes the first point's).
inline std::array<float, 128> velocity_gains(const std::vector<float>& db) {
  if (!valid_velocity_curve(db)) throw std::invalid_argument("a velocity curve names 9 trims within +-40 dB");
  std::array<float, 128> gains;
  gains.fill(1.0f);
  if (db.empty()) return gains;
  const auto& at = kVelocityCurvePoints;
  for (int v = 0; v < 128; ++v) {
    size_t hi = 0;
    while (hi + 1 < at.size() && at[hi] < v) ++hi;  // the first point at or above v (or the last)
    double trim = db[hi];
    if (hi > 0 && v < at[hi]) {
      const double w = static_cast<double>(v - at[hi - 1]) / (at[hi] - at[hi - 1]);
      trim = db[hi - 1] + w * (db[hi] - db[hi - 1]);
    }
    gains[v] = static_cast<float>(std::pow(10.0, trim / 20.0));
  }
  return gains;
}

}  // namespace wavenet_rt
