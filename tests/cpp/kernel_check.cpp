// Checks every kernel set this CPU runs (csrc/cpu/kernels.h) against float64 references, and that their
// sampling weights are bit-identical to csrc/core/sampling.h's sampling_exp (the contract that lets engines
// pick the same samples from the same logits). Exit code 0 = all good. Run by tests/test_engine.py.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/half.h"
#include "cpu/kernels.h"
#include "core/sampling.h"

using wavenet_rt::cpu::Kernels;

namespace {

int failures = 0;

void expect(bool ok, const char* kernels, const char* what, double detail) {
  if (!ok) {
    std::printf("%s: %s (%g)\n", kernels, what, detail);
    ++failures;
  }
}

void check(const Kernels& k) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  const int in = 37, out = wavenet_rt::cpu::padded(75, k.lanes);
  std::vector<float> w(in * out), x(in), y(out), a(2 * out), z(out);
  for (float& v : w) v = normal(rng);
  for (float& v : x) v = normal(rng);
  for (float& v : y) v = normal(rng);
  std::vector<double> want(y.begin(), y.end());
  for (int i = 0; i < in; ++i)
    for (int o = 0; o < out; ++o) want[o] += static_cast<double>(w[i * out + o]) * x[i];
  k.matvec(w.data(), in, out, x.data(), y.data());
  double worst = 0;
  for (int o = 0; o < out; ++o) worst = std::fmax(worst, std::fabs(y[o] - want[o]) / (1 + std::fabs(want[o])));
  expect(worst < 1e-5, k.name, "matvec differs from float64", worst);

  const int rows = 7, stride = in + 3;  // odd row count: the kernels' row blocking has a remainder
  const int y_stride = out + k.lanes;   // output rows apart, as the engine's [residual | skip] rows are
  std::vector<float> xs(rows * stride), ys(rows * y_stride);
  for (float& v : xs) v = normal(rng);
  for (float& v : ys) v = normal(rng);
  const std::vector<float> ys_start = ys;
  std::vector<double> want_rows(ys.begin(), ys.end());
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < in; ++i)
      for (int o = 0; o < out; ++o) {
        want_rows[r * y_stride + o] += static_cast<double>(w[i * out + o]) * xs[r * stride + i];
      }
  k.matmat(w.data(), in, out, xs.data(), stride, rows, ys.data(), y_stride);
  worst = 0;
  for (int i = 0; i < rows * y_stride; ++i) {
    worst = std::fmax(worst, std::fabs(ys[i] - want_rows[i]) / (1 + std::fabs(want_rows[i])));
  }
  expect(worst < 1e-5, k.name, "matmat differs from float64 (or wrote between output rows)", worst);

  // Batching must not change a row's result: each row alone gives the bits it got among `rows`, for
  // every output width the engine uses (column blocks and their tails).
  for (int width : {out, k.lanes, 3 * k.lanes, 5 * k.lanes, 10 * k.lanes, 16 * k.lanes, 20 * k.lanes}) {
    std::vector<float> wide(static_cast<size_t>(in) * width), together(rows * width), alone(width);
    for (float& v : wide) v = normal(rng);
    for (int batch = 1; batch <= rows; ++batch) {
      for (int i = 0; i < batch * width; ++i) together[i] = ys_start[i % ys_start.size()];
      k.matmat(wide.data(), in, width, xs.data(), stride, batch, together.data(), width);
      int differing = 0;
      for (int r = 0; r < batch; ++r) {
        for (int o = 0; o < width; ++o) alone[o] = ys_start[(r * width + o) % ys_start.size()];
        k.matmat(wide.data(), in, width, xs.data() + r * stride, stride, 1, alone.data(), width);
        differing += std::memcmp(alone.data(), together.data() + r * width, width * sizeof(float)) != 0;
      }
      expect(differing == 0, k.name, "a matmat row depends on how many rows share the call", batch * 1000 + width);
    }
  }

  // Half-precision weights: the same products with the weights rounded to half, in float64.
  std::vector<uint16_t> wh(w.size());
  for (size_t i = 0; i < w.size(); ++i) wh[i] = wavenet_rt::cpu::float_to_half(w[i]);
  std::vector<float> yh(out, 0.5f), ysh(rows * y_stride, -0.25f);
  std::vector<double> want_h(out, 0.5), want_sh(rows * y_stride, -0.25);
  for (int i = 0; i < in; ++i) {
    for (int o = 0; o < out; ++o) {
      const double wi = wavenet_rt::cpu::half_to_float(wh[i * out + o]);
      want_h[o] += wi * x[i];
      for (int r = 0; r < rows; ++r) want_sh[r * y_stride + o] += wi * xs[r * stride + i];
    }
  }
  k.matvec_h(wh.data(), in, out, x.data(), yh.data());
  k.matmat_h(wh.data(), in, out, xs.data(), stride, rows, ysh.data(), y_stride);
  worst = 0;
  for (int o = 0; o < out; ++o) worst = std::fmax(worst, std::fabs(yh[o] - want_h[o]) / (1 + std::fabs(want_h[o])));
  for (int i = 0; i < rows * y_stride; ++i) worst = std::fmax(worst, std::fabs(ysh[i] - want_sh[i]) / (1 + std::fabs(want_sh[i])));
  expect(worst < 1e-5, k.name, "half-weight products differ from float64", worst);

  for (float& v : a) v = normal(rng) * 5;
  a[0] = 100.0f, a[1] = -100.0f, a[out] = -100.0f, a[out + 1] = 100.0f;  // saturated ends
  k.gate(a.data(), out, z.data());
  worst = 0;
  for (int o = 0; o < out; ++o) {
    const double g = std::tanh(static_cast<double>(a[o])) / (1 + std::exp(-static_cast<double>(a[out + o])));
    worst = std::fmax(worst, std::fabs(z[o] - g));
  }
  expect(worst < 1e-6, k.name, "gate differs from float64 tanh * sigmoid", worst);

}

// sampling_exp (csrc/core/sampling.h) is accurate; each set's pick_rows draws what the contract's
// sample_categorical draws, bit for bit: any row count (groups of kPickRows and a remainder), a class count
// that is no multiple of the lanes, ties for the largest logit, a NaN, argmax rows, uniforms at both ends.
void check_picks(const Kernels& k) {
  double rel = 0;
  for (float x = -87.0f; x <= 0.0f; x += 0.37f) {
    const double e = std::exp(static_cast<double>(x));
    rel = std::fmax(rel, std::fabs(wavenet_rt::sampling_exp(x) - e) / e);
  }
  expect(rel < 1e-6, k.name, "sampling_exp is not accurate", rel);

  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  const int n = 997, stride = wavenet_rt::cpu::padded(n, k.lanes), rows = 19;
  std::vector<float> logits(static_cast<size_t>(rows) * stride), temperature(rows), inv_t(rows), u(rows);
  std::vector<float> scratch(wavenet_rt::cpu::kPickRows * stride), weights(n);
  std::vector<int32_t> best(rows), pick(rows);
  int mismatches = 0;
  for (int trial = 0; trial < 200; ++trial) {
    for (float& v : logits) v = normal(rng) * (trial % 3 == 0 ? 8.0f : 1.0f);
    for (int r = 0; r < rows; ++r) {
      temperature[r] = r % 7 == 3 ? 0.0f : 0.05f + 2.0f * unit(rng);  // 0: argmax
      inv_t[r] = temperature[r] >= wavenet_rt::kMinTemperature ? 1.0f / temperature[r] : 0.0f;  // as the engine
      u[r] = r % 5 == 0 ? 0.0f : r % 5 == 1 ? 1.0f - 1.0f / 16777216.0f : unit(rng);
    }
    logits[2 * stride + 10] = logits[2 * stride + 500] = 1e3f;  // a tie for the largest
    logits[4 * stride + 3] = -1e30f;
    if (trial % 10 == 1) logits[6 * stride + 40] = std::nanf("");
    if (trial % 10 == 2) logits[7 * stride] = std::nanf("");
    for (int count : {rows, 1, 8, 9}) {
      k.pick_rows(logits.data(), stride, count, n, inv_t.data(), u.data(), scratch.data(), best.data(), pick.data());
      for (int r = 0; r < count; ++r) {
        const float* row = logits.data() + static_cast<long>(r) * stride;
        const int want = wavenet_rt::sample_categorical(row, n, temperature[r], u[r], weights.data());
        const int got = inv_t[r] > 0.0f ? pick[r] : best[r];
        mismatches += best[r] != wavenet_rt::argmax(row, n) || got != want;
      }
    }
  }
  expect(mismatches == 0, k.name, "pick_rows differs from the sampling contract", mismatches);
}

// The int8 mode's product (kernels.h): in exact integers of the quantized inputs, so every kernel set gives
// the portable set's bits, and the integer sum must match an int64 reference at the widest input count
// with every product at its largest (the bound that keeps int32 from overflowing).
void check_int8(const Kernels& k) {
  using wavenet_rt::cpu::kQ8InputLevels;
  using wavenet_rt::cpu::kQ8MaxInputs;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::uniform_int_distribution<int> level(-127, 127);
  const Kernels& portable = wavenet_rt::cpu::portable_kernels();
  for (const int in : {1, 37, 64, kQ8MaxInputs}) {
    const int out = wavenet_rt::cpu::padded(75, k.lanes), rows = 7, stride = in + 3, y_stride = out + k.lanes;
    const bool extreme = in == kQ8MaxInputs;
    std::vector<int8_t> w(static_cast<size_t>((in + 1) / 2) * out * 2, 0);
    std::vector<float> scales(out), xs(rows * stride), ys(rows * y_stride);
    for (int i = 0; i < in; ++i)
      for (int o = 0; o < out; ++o) w[wavenet_rt::cpu::q8_index(i, o, out)] = extreme ? 127 : level(rng);
    for (float& v : scales) v = std::fabs(normal(rng)) / 127;
    for (float& v : xs) v = extreme ? 3.0f : normal(rng);
    for (float& v : ys) v = normal(rng);
    std::vector<float> got = ys, want_bits = ys;
    k.matmat_q8(w.data(), scales.data(), in, out, xs.data(), stride, rows, got.data(), y_stride);
    portable.matmat_q8(w.data(), scales.data(), in, out, xs.data(), stride, rows, want_bits.data(), y_stride);
    expect(std::memcmp(got.data(), want_bits.data(), got.size() * sizeof(float)) == 0, k.name,
           "int8 products are not bit-identical to the portable kernel's", in);
    double worst = 0;
    for (int r = 0; r < rows; ++r) {
      const float* x = xs.data() + r * stride;
      float m = 0;
      for (int i = 0; i < in; ++i) m = std::fmax(m, std::fabs(x[i]));
      const float inv = kQ8InputLevels / m;
      for (int o = 0; o < out; ++o) {
        int64_t acc = 0;
        for (int i = 0; i < in; ++i) {
          acc += static_cast<int64_t>(w[wavenet_rt::cpu::q8_index(i, o, out)]) *
                 static_cast<int64_t>(std::nearbyint(x[i] * inv));
        }
        const double want = ys[r * y_stride + o] + static_cast<double>(acc) * (m / kQ8InputLevels) * scales[o];
        worst = std::fmax(worst, std::fabs(got[r * y_stride + o] - want) / (1 + std::fabs(want)));
      }
    }
    expect(worst < 1e-6, k.name, "int8 products differ from the int64 reference", worst);
  }
}

}  // namespace

// float <-> half against the compiler's own correctly rounded _Float16 conversions.
void check_half_conversion() {
  std::mt19937 rng(3);
  std::uniform_int_distribution<uint32_t> any_bits;
  int bad = 0;
  for (int i = 0; i < 2000000; ++i) {
    uint32_t bits = any_bits(rng);
    if (i % 4 == 0) bits = (bits & 0x8000FFFFu) | ((bits % 40u + 100u) << 23);  // many near half's range
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    if (f != f) continue;  // NaN payloads may differ; both stay NaN
    const uint16_t mine = wavenet_rt::cpu::float_to_half(f);
    const _Float16 ref = static_cast<_Float16>(f);
    uint16_t ref_bits;
    std::memcpy(&ref_bits, &ref, sizeof(ref_bits));
    bad += mine != ref_bits;
  }
  for (uint32_t h = 0; h < 65536; ++h) {
    _Float16 ref;
    const uint16_t bits = static_cast<uint16_t>(h);
    std::memcpy(&ref, &bits, sizeof(ref));
    const float want = static_cast<float>(ref), got = wavenet_rt::cpu::half_to_float(bits);
    if (want == want) bad += std::memcmp(&want, &got, sizeof(float)) != 0;
  }
  expect(bad == 0, "half", "float <-> half conversion differs from _Float16", bad);
}

int main() {
  check_half_conversion();
  const Kernels* sets[] = {&wavenet_rt::cpu::portable_kernels(), wavenet_rt::cpu::avx2_kernels(),
                           wavenet_rt::cpu::avx512_kernels()};
  for (const Kernels* k : sets) {
    if (k == nullptr) continue;
    check(*k);
    check_picks(*k);
    check_int8(*k);
    std::printf("checked %s kernels\n", k->name);
  }
  return failures ? 1 : 0;
}
