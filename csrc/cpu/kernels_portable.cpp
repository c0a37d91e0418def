// Portable C++ versions of the CPU engine's inner loops (kernels.h), and the run-time choice between them
// and the AVX2 ones. Accurate libm tanh/exp; compiled for the baseline instruction set.
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

void gate(const float* a, int half, float* z) {
  for (int o = 0; o < half; ++o) z[o] = std::tanh(a[o]) / (1.0f + std::exp(-a[half + o]));
}

void relu(float* v, int n) {
  for (int i = 0; i < n; ++i) v[i] = v[i] > 0.0f ? v[i] : 0.0f;
}

void sampling_weights(const float* logits, int n, float max, float inv_temperature, float* w) {
  for (int i = 0; i < n; ++i) w[i] = sampling_exp((logits[i] - max) * inv_temperature);
}

}  // namespace

const Kernels& portable_kernels() {
  static const Kernels kernels{"portable", 8, matvec, matmat, matvec_h, matmat_h, gate, relu, sampling_weights};
  return kernels;
}

const Kernels& best_kernels() {
  if (const Kernels* k = avx512_kernels()) return *k;
  if (const Kernels* k = avx2_kernels()) return *k;
  return portable_kernels();
}

}  // namespace wavenet_rt::cpu
