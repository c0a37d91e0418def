// Resampler (resampler.h): output n sits at time n * down / up input samples; it sums taps inputs
// weighted by the polyphase branch of the prototype lowpass that falls on that time.
#include "live/resampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace wavenet_rt {
namespace {

double bessel_i0(double x) {  // modified Bessel function of the first kind, order 0 (series)
  double sum = 1.0, term = 1.0;
  for (int k = 1; k < 50; ++k) {
    term *= (x / (2.0 * k)) * (x / (2.0 * k));
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

}  // namespace

Resampler::Resampler(int in_rate, int out_rate, int max_block, int taps_per_phase)
    : taps_(taps_per_phase), max_block_(max_block) {
  if (in_rate < 1 || out_rate < 1 || max_block < 1 || taps_per_phase < 2) {
    throw std::invalid_argument("resampler rates, block and taps must be positive");
  }
  const int g = std::gcd(in_rate, out_rate);
  up_ = out_rate / g;
  down_ = in_rate / g;
  // Prototype lowpass at the upsampled rate: cutoff a little below the lower Nyquist frequency.
  const int length = taps_ * up_;
  const double cutoff = 0.45 * std::min(1.0, static_cast<double>(up_) / down_) / up_;  // cycles per sample
  const double beta = 8.0, centre = (length - 1) / 2.0, norm = bessel_i0(beta);
  std::vector<double> prototype(length);
  for (int k = 0; k < length; ++k) {
    const double t = k - centre, r = t / (centre + 0.5);
    const double sinc = t == 0 ? 2 * cutoff : std::sin(2 * M_PI * cutoff * t) / (M_PI * t);
    prototype[k] = up_ * sinc * bessel_i0(beta * std::sqrt(std::max(0.0, 1 - r * r))) / norm;
  }
  coeffs_.resize(static_cast<size_t>(up_) * taps_);
  for (int p = 0; p < up_; ++p) {
    for (int m = 0; m < taps_; ++m) coeffs_[p * taps_ + m] = static_cast<float>(prototype[p + m * up_]);
  }
  delay_seconds_ = centre / up_ / in_rate;
  history_.assign(taps_ - 1 + max_block_, 0.0f);
}

void Resampler::reset() {
  std::fill(history_.begin(), history_.end(), 0.0f);
  next_ = 0;
  consumed_ = 0;
}

int Resampler::process(const float* in, int n, float* out) {
  if (n > max_block_) throw std::invalid_argument("resampler block larger than its max_block");
  std::copy(in, in + n, history_.begin() + (taps_ - 1));
  const int64_t last = consumed_ + n - 1;  // the newest input's index
  int written = 0;
  for (;;) {
    const int64_t newest = next_ / up_;  // the latest input at or before this output's time
    if (newest > last) break;
    const float* c = coeffs_.data() + (next_ - newest * up_) * taps_;
    const float* x = history_.data() + (newest - consumed_) + (taps_ - 1);  // x[0] = input `newest`
    float sum = 0.0f;
    for (int m = 0; m < taps_; ++m) sum += c[m] * x[-m];
    out[written++] = sum;
    next_ += down_;
  }
  std::copy(history_.begin() + n, history_.begin() + n + (taps_ - 1), history_.begin());  // keep taps - 1
  consumed_ += n;
  return written;
}

}  // namespace wavenet_rt
