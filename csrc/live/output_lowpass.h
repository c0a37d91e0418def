// The players' output low-pass (a model config's output_lowpass_hz): a Butterworth low-pass on the mixed voices,
// after the engines, so each stream still hears its own samples as drawn. A model's sampling hiss is flat up
// to Nyquist while the instrument it learned falls away above its highest partials; this takes out what lies
// there. Bilinear transform with the corner prewarped (as scipy.signal.butter designs it), float64 state.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <string>

namespace wavenet_rt {

constexpr int kOutputLowPassOrder = 4;  // -24 dB per octave past the corner

// A corner the filter can have at `rate`: above 0 and below Nyquist (0 itself means no filter).
inline bool valid_lowpass_corner(double hz, int rate) { return hz > 0 && hz < 0.5 * rate; }

class OutputLowPass {
 public:
  // Throws std::invalid_argument unless valid_lowpass_corner(corner_hz, rate).
  OutputLowPass(double corner_hz, int rate) {
    if (!valid_lowpass_corner(corner_hz, rate)) {
      throw std::invalid_argument("output_lowpass_hz must be 0 (none) or above 0 and below half the sample rate (" +
                                  std::to_string(rate / 2) + " Hz), not " + std::to_string(corner_hz));
    }
    const double k = std::tan(M_PI * corner_hz / rate);
    for (size_t i = 0; i < sections_.size(); ++i) {
      // each pair of the analog prototype's poles, as a section of quality q
      const double q = 1.0 / (2.0 * std::cos(M_PI * (2.0 * i + 1.0) / (2.0 * kOutputLowPassOrder)));
      const double norm = 1.0 / (1.0 + k / q + k * k);
      Section& s = sections_[i];
      s.b0 = k * k * norm;
      s.a1 = 2.0 * (k * k - 1.0) * norm;
      s.a2 = (1.0 - k / q + k * k) * norm;
    }
  }

  void reset() {
    for (Section& s : sections_) s.z1 = s.z2 = 0.0;
  }

  // Filters n samples in place, clamped to [-1, 1] as the mix is (a low-pass can overshoot a step).
  void process(float* audio, int n) {
    for (int i = 0; i < n; ++i) {
      double x = audio[i];
      for (Section& s : sections_) {  // transposed direct form II; b1 = 2 b0, b2 = b0
        const double y = s.b0 * x + s.z1;
        s.z1 = 2.0 * s.b0 * x - s.a1 * y + s.z2;
        s.z2 = s.b0 * x - s.a2 * y;
        x = y;
      }
      audio[i] = static_cast<float>(std::clamp(x, -1.0, 1.0));
    }
  }

 private:
  struct Section {
    double b0 = 0, a1 = 0, a2 = 0, z1 = 0, z2 = 0;
  };
  std::array<Section, kOutputLowPassOrder / 2> sections_;
};

}  // namespace wavenet_rt
