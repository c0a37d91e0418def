// Portable C++ versions of the CPU engine's inner loops (kernels.h), and the run-time choice between them
// and the AVX2 ones. Accurate libm tanh/exp; compiled for the baseline instruction set.
#include <algorithm>
#include <cmath>

#include "core/sampling.h"
#include "cpu/half.h"
#include "cpu/kernels.h"

namespace wavenet_rt::cpu {
namespace {

void matvec(const float* w, int in, int out, const float* x, float* y) {
  for (int i = 0; i < in; ++i) {
    const float xi = x[i];
    const float* row = w + static_cast<long>(i) * out;
    for (int o = 0; o < out; ++o) y[o] += row[o] * xi;
  }
}

void matmat(const float* w, int in, int out, const float* x, int x_stride, int rows, float* y, int y_stride) {
  for (int r = 0; r < rows; ++r) {
    matvec(w, in, out, x + static_cast<long>(r) * x_stride, y + static_cast<long>(r) * y_stride);
  }
}

void matvec_h(const uint16_t* w, int in, int out, const float* x, float* y) {
  for (int i = 0; i < in; ++i) {
    const float xi = x[i];
    const uint16_t* row = w + static_cast<long>(i) * out;
    for (int o = 0; o < out; ++o) y[o] += half_to_float(row[o]) * xi;
  }
}

void matmat_h(const uint16_t* w, int in, int out, const float* x, int x_stride, int rows, float* y, int y_stride) {
  for (int r = 0; r < rows; ++r) {
    matvec_h(w, in, out, x + static_cast<long>(r) * x_stride, y + static_cast<long>(r) * y_stride);
  }
}

// One row of x as 16-bit integers (kernels.h's int8 contract); returns its scale.
float quantize_row(const float* x, int in, int16_t* q) {
  float m = 0.0f;
  for (int i = 0; i < in; ++i) m = std::max(m, std::fabs(x[i]));
  const float inv = m > 1e-30f ? kQ8InputLevels / m : 0.0f;
  for (int i = 0; i < in; ++i) q[i] = static_cast<int16_t>(std::nearbyint(x[i] * inv));
  return m > 1e-30f ? m / kQ8InputLevels : 0.0f;
}

void matmat_q8(const int8_t* w, const float* scales, int in, int out, const float* x, int x_stride, int rows,
               float* y, int y_stride) {
  int16_t q[kQ8MaxInputs];
  for (int r = 0; r < rows; ++r) {
    const float xscale = quantize_row(x + static_cast<long>(r) * x_stride, in, q);
    float* yr = y + static_cast<long>(r) * y_stride;
    for (int o = 0; o < out; ++o) {
      int32_t acc = 0;
      for (int i = 0; i < in; ++i) acc += static_cast<int32_t>(w[q8_index(i, o, out)]) * q[i];
      yr[o] = std::fma(static_cast<float>(acc), xscale * scales[o], yr[o]);
    }
  }
}

void gate(const float* a, int half, float* z) {
  for (int o = 0; o < half; ++o) z[o] = std::tanh(a[o]) / (1.0f + std::exp(-a[half + o]));
}

void relu(float* v, int n) {
  for (int i = 0; i < n; ++i) v[i] = v[i] > 0.0f ? v[i] : 0.0f;
}

void pick_rows(const float* logits, int stride, int rows, int n, const float* inv_temperatures, const float* uniforms,
               float* scratch, int32_t* best, int32_t* pick) {
  for (int r = 0; r < rows; ++r) {
    const float* row = logits + static_cast<long>(r) * stride;
    best[r] = argmax(row, n);
    for (int i = 0; i < n; ++i) scratch[i] = sampling_exp((row[i] - row[best[r]]) * inv_temperatures[r]);
    pick[r] = pick_by_weights(scratch, n, uniforms[r], best[r]);
  }
}

}  // namespace

const Kernels& portable_kernels() {
  static const Kernels kernels{"portable", 8, matvec, matmat, matvec_h, matmat_h, matmat_q8, gate, relu, pick_rows};
  return kernels;
}

const Kernels& best_kernels() {
  if (const Kernels* k = avx512_kernels()) return *k;
  if (const Kernels* k = avx2_kernels()) return *k;
  return portable_kernels();
}

}  // namespace wavenet_rt::cpu
