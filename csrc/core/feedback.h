// What a drawn class becomes before it is played and heard again: itself, or, when the model's config sets
// a DC blocker pole r > 0, its centre through y = (x - x_prev) + r * y_prev (one fmaf, so every compiler
// and the GPU round alike; below FLT_MIN, +0), coded again by the class edges. Host/device portable; the NumPy twin is
// wavenet_rt/feedback.py. Why: a model that drifts into a constant offset no longer hears it (issue 18).
#pragma once

#include <cfloat>
#include <cmath>

#include "core/host_device.h"

namespace wavenet_rt {

// One stream's DC blocker: the last centre drawn and the last output, unrounded.
struct DcBlocker {
  float x_prev = 0.0f;
  float y_prev = 0.0f;
};

// The state an endless silence leaves: the silence centre in, nothing out.
WAVENET_RT_HD DcBlocker dc_blocker_at_rest(const float* centres, int silence_code) {
  return DcBlocker{centres[silence_code], 0.0f};
}

// The class of `value` by the edges (classes - 1 of them, ascending; mulaw_edge): how many it reaches.
WAVENET_RT_HD int class_by_edges(float value, const float* edges, int classes) {
  int low = 0, high = classes - 1;  // the answer lies in [low, high]
  while (low < high) {
    const int mid = (low + high) / 2;
    if (value >= edges[mid]) {
      low = mid + 1;
    } else {
      high = mid;
    }
  }
  return low;
}

// The class played and fed back after drawing `drawn`; pole 0 (or less) leaves it as drawn.
WAVENET_RT_HD int fed_back_class(int drawn, float pole, const float* centres, const float* edges, int classes,
                                 DcBlocker* state) {
  if (!(pole > 0.0f)) return drawn;
  const float x = centres[drawn];
  float y = fmaf(pole, state->y_prev, x - state->x_prev);
  // A fading offset ends at +0, not in denormals: a flush-to-zero mode (set by some library) would turn
  // them into -0 here and not on the GPU, and -0 and a denormal fall on different sides of an edge at 0.
  if (fabsf(y) < FLT_MIN) y = 0.0f;
  state->x_prev = x;
  state->y_prev = y;
  return class_by_edges(y, edges, classes);
}

}  // namespace wavenet_rt
