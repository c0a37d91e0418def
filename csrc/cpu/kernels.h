// The CPU engine's inner loops behind one table of function pointers, chosen once at run time: AVX-512
// (kernels_avx512.cpp, its int8 product from kernels_avx512_vnni.cpp where the CPU has VNNI) or AVX2+FMA
// (kernels_avx2.cpp) where the CPU has them, portable C++ otherwise.
// Each SIMD file is the only one built with its flags. Vector lengths are padded to the kernels' `lanes`;
// weights are stored input-major (row i = input i).
#pragma once

#include <cstdint>

namespace wavenet_rt::cpu {

// Static, as q8_index below: a copy built with a SIMD file's flags must never serve portable code.
static inline int padded(int n, int lanes) { return (n + lanes - 1) / lanes * lanes; }

// The int8 mode's inputs are quantized per vector to 16-bit integers (+-kQ8InputLevels): with int8 weights,
// a sum over at most kQ8MaxInputs products cannot overflow int32 (127 * 32767 * 512 < 2^31).
constexpr int kQ8InputLevels = 32767;
constexpr int kQ8MaxInputs = 512;

// pick_rows's scratch holds this many rows of sampling weights.
constexpr int kPickRows = 8;

// Where int8 weight (input i, output o) of a matrix with `out` outputs lies: inputs in pairs, so one 16-byte
// load holds 8 outputs x 2 inputs (the layout matmat_q8 reads). Static: the SIMD files include this header,
// and a copy of it built with their flags must never be the one the linker keeps for portable code.
static inline long q8_index(int i, int o, int out) { return (static_cast<long>(i / 2) * out + o) * 2 + i % 2; }

using Q8Product = void (*)(const int8_t* w, const float* scales, int in, int out, const float* x, int x_stride,
                          int rows, float* y, int y_stride);

struct Kernels {
  const char* name;
  int lanes;  // every vector length handed to these kernels is a multiple of it
  // y[0..out) += sum_i w[i * out + o] * x[i], i < in. out is padded.
  void (*matvec)(const float* w, int in, int out, const float* x, float* y);
  // The same for `rows` vectors at once (row r of x at x + r * x_stride, of y at y + r * y_stride): each
  // weight is loaded once for several rows. Each row's result is the same whatever `rows` is (one
  // summation order per kernel set), so a stream computes alike alone or batched with others.
  void (*matmat)(const float* w, int in, int out, const float* x, int x_stride, int rows, float* y, int y_stride);
  // The same two with IEEE half-precision weights (the engine's fp16 mode), float32 arithmetic.
  void (*matvec_h)(const uint16_t* w, int in, int out, const float* x, float* y);
  void (*matmat_h)(const uint16_t* w, int in, int out, const float* x, int x_stride, int rows, float* y,
                   int y_stride);
  // int8 mode: y[r][o] += fma(float(acc), xscale_r * scales[o]) with acc = sum_i w[i][o] * q_r[i] in exact
  // integer arithmetic, where q_r[i] = nearbyint(x_r[i] * (kQ8InputLevels / m_r)), m_r = max_i |x_r[i]|,
  // xscale_r = m_r / kQ8InputLevels (q_r = 0, xscale_r = 0 for a zero row). The weights are held in pairs of
  // inputs: w[q8_index(i, o, out)], in rounded up to even with zero weights. Integer sums do not
  // depend on their order, so every kernel set gives bit-identical results. in <= kQ8MaxInputs.
  Q8Product matmat_q8;
  // z[o] = tanh(a[o]) * sigmoid(a[half + o]), o < half (padded).
  void (*gate)(const float* a, int half, float* z);
  // v = max(v, 0), n padded.
  void (*relu)(float* v, int n);
  // The sampling contract (csrc/core/sampling.h, sample_categorical) for `rows` rows of n logits, row r at
  // logits + r * stride: best[r] = argmax, pick[r] = the class that uniforms[r] draws with inverse temperature
  // inv_temperatures[r], bit-identical to the contract in every set (a caller whose temperature means argmax
  // takes best[r]). Several rows at once: the contract's left-to-right sums are one long dependency chain
  // per row, so rows side by side (lane = row) keep the core busy. scratch: kPickRows * stride floats.
  void (*pick_rows)(const float* logits, int stride, int rows, int n, const float* inv_temperatures,
                    const float* uniforms, float* scratch, int32_t* best, int32_t* pick);
};

const Kernels& portable_kernels();
// nullptr when this build has no such code (not an x86-64 compiler) or this CPU cannot run it.
const Kernels* avx2_kernels();
const Kernels* avx512_kernels();
// The int8 product with AVX-512 VNNI; nullptr when this build or CPU lacks it.
Q8Product avx512_vnni_matmat_q8();
// The fastest set this build has and this CPU runs.
const Kernels& best_kernels();

}  // namespace wavenet_rt::cpu
