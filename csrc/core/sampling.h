// Shared low-level pieces every engine uses: mu-law coding, the counter-based RNG and categorical
// sampling. Header-only and host/device portable, so the CPU engine (csrc/cpu/) and the CUDA kernels
// (csrc/cuda/) draw the same numbers; wavenet_rt/mulaw.py and wavenet_rt/sampling.py are the NumPy twins.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/host_device.h"

namespace wavenet_rt {

// ---- mu-law ------------------------------------------------------------------------------------------

// Maps audio in [-1, 1] (clamped) to a class in [0, classes - 1]; mu = classes - 1.
WAVENET_RT_HD int mulaw_encode(float x, int classes) {
  const float mu = static_cast<float>(classes - 1);
  x = fminf(fmaxf(x, -1.0f), 1.0f);
  const float y = copysignf(log1pf(mu * fabsf(x)) / log1pf(mu), x);
  const int code = static_cast<int>(floorf((y + 1.0f) * 0.5f * mu + 0.5f));
  return code < 0 ? 0 : (code > classes - 1 ? classes - 1 : code);
}

// The audio whose companded value is `position` (in classes, 0 .. classes - 1), computed in double and
// rounded once to float, as wavenet_rt/mulaw.py does: every engine's tables hold the same bits.
WAVENET_RT_HD float mulaw_expand(double position, int classes) {
  const double mu = classes - 1;
  const double y = 2.0 * position / mu - 1.0;
  return static_cast<float>(copysign(expm1(fabs(y) * log1p(mu)) / mu, y));
}

// Inverse of mulaw_encode up to quantisation: class centre -> audio in [-1, 1].
WAVENET_RT_HD float mulaw_decode(int code, int classes) { return mulaw_expand(code, classes); }

// Where class `code` ends and code + 1 begins (code in [0, classes - 2]): the audio halfway between their
// centres in the companded domain, so coding by these edges rounds to the nearest class as mulaw_encode does.
WAVENET_RT_HD float mulaw_edge(int code, int classes) { return mulaw_expand(code + 0.5, classes); }

// ---- counter-based RNG: Philox4x32-10 (Salmon et al., SC'11) ----------------------------------------

struct Philox4x32 {
  uint32_t v[4];
};

WAVENET_RT_HD void mul_hi_lo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
#if defined(__CUDA_ARCH__)
  *hi = __umulhi(a, b);
  *lo = a * b;
#else
  const uint64_t product = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(product >> 32);
  *lo = static_cast<uint32_t>(product);
#endif
}

// Ten rounds of Philox on a 128-bit counter with a 64-bit key: a bijection of the counter, so every
// (key, counter) pair gives independent-looking bits without any state to carry between draws.
WAVENET_RT_HD Philox4x32 philox4x32_10(Philox4x32 counter, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mul_hi_lo(kMul0, counter.v[0], &hi0, &lo0);
    mul_hi_lo(kMul1, counter.v[2], &hi1, &lo1);
    counter = Philox4x32{{hi1 ^ counter.v[1] ^ key0, lo1, hi0 ^ counter.v[3] ^ key1, lo0}};
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return counter;
}

// The uniform that picks sample `index` of `stream` for a given seed, in [0, 1 - 2^-24]. 24 bits so the
// value is exact in float32 on every platform.
WAVENET_RT_HD float sampling_uniform(uint64_t seed, uint32_t stream, uint64_t index) {
  const Philox4x32 counter{{static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), stream, 0u}};
  const Philox4x32 bits =
      philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  return static_cast<float>(bits.v[0] >> 8) * (1.0f / 16777216.0f);
}

// ---- categorical sampling ---------------------------------------------------------------------------

// exp(x) for the sampling weights (x <= 0), from IEEE multiplies, fmaf and rintf only, in a fixed order:
// every engine (scalar, SIMD lanes, CUDA) computes the same bits, so equal logits give equal picks.
// Cody-Waite reduction by ln 2 and Cephes' degree-5 polynomial; relative error about 2e-7.
WAVENET_RT_HD float sampling_exp(float x) {
  x = fmaxf(x, -87.0f);  // keeps 2^k a normal float
  const float k = rintf(x * 1.44269504088896341f);
  float r = fmaf(k, -0.693145751953125f, x);
  r = fmaf(k, -1.428606765330187e-6f, r);
  float p = 1.9875691500e-4f;
  p = fmaf(p, r, 1.3981999507e-3f);
  p = fmaf(p, r, 8.3334519073e-3f);
  p = fmaf(p, r, 4.1665795894e-2f);
  p = fmaf(p, r, 1.6666665459e-1f);
  p = fmaf(p, r, 5.0000001201e-1f);
  const float y = fmaf(p, r * r, r) + 1.0f;
  const int bits = (static_cast<int>(k) + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof(scale));
  return y * scale;
}

// Temperatures below this (and 0 or NaN) mean argmax: 1 / temperature must stay finite.
constexpr float kMinTemperature = 1e-6f;
// The highest temperature a model file may name and a player may ask for: far past where the sound is all
// noise (at 2 it already is), so only typing errors meet it.
constexpr float kMaxTemperature = 10.0f;
// The most a note's strike may scale its temperature by (the model config's strike_scale, at least 1).
constexpr float kMaxStrikeScale = 2.0f;
// The scales of a voice's temperature over its note's strike and after its attack (live/performer.h), as
// the model reader and the performer both accept them (NaN fails both comparisons: refused).
constexpr bool valid_strike_scale(float s) { return s >= 1.0f && s <= kMaxStrikeScale; }
constexpr bool valid_sustain_scale(float s) { return s >= 0.0f && s <= 1.0f; }

// First index of the largest logit.
WAVENET_RT_HD int argmax(const float* logits, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

// The second half of sample_categorical, for engines that compute the weights their own (bit-identical)
// way: the first class whose left-to-right running sum of weights exceeds u * total.
WAVENET_RT_HD int pick_by_weights(const float* weights, int n, float u, int best) {
  float total = 0.0f;
  for (int i = 0; i < n; ++i) total += weights[i];
  const float target = u * total;
  float running = 0.0f;
  int last_nonzero = best;
  for (int i = 0; i < n; ++i) {
    running += weights[i];
    if (running > target) return i;
    if (weights[i] > 0.0f) last_nonzero = i;
  }
  return last_nonzero;  // u * total rounded up to total: take the last class with any weight
}

// Draws a class from softmax(logits / temperature) by inverse CDF with one uniform u in [0, 1).
// The contract all engines follow (the order of the float32 sums included): weights
// w_i = sampling_exp((l_i - max) * (1 / temperature)) summed left to right; the pick is the first i whose running
// sum exceeds u * total. temperature < kMinTemperature means argmax. `scratch` holds n floats.
WAVENET_RT_HD int sample_categorical(const float* logits, int n, float temperature, float u,
                                     float* scratch) {
  const int best = argmax(logits, n);
  if (!(temperature >= kMinTemperature)) return best;
  const float inv_temperature = 1.0f / temperature;
  for (int i = 0; i < n; ++i) scratch[i] = sampling_exp((logits[i] - logits[best]) * inv_temperature);
  return pick_by_weights(scratch, n, u, best);
}

}  // namespace wavenet_rt
