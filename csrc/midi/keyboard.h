// The piano keyboard every conditioning channel is laid out on: 88 keys from A0. One header, so the
// conditioner and the age clocks (note_age.h) cannot disagree on it.
#pragma once

namespace wavenet_rt {

constexpr int kLowestKey = 21;  // A0
constexpr int kKeys = 88;

}  // namespace wavenet_rt
