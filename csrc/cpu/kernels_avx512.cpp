// AVX-512 versions of the CPU engine's inner loops (kernels.h): 16 floats per register. Like
// kernels_avx2.cpp, the only file built with its flags (-mavx512f), including no header with shared inline
// code, so none of its instructions can leak into the portable path.
#include "cpu/indices.h"
#include "cpu/kernels.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

namespace wavenet_rt::cpu {
namespace {

// Loads 16 weights as floats, from float32 or from half storage.
inline __m512 load_weights(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load_weights(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }

template <int V, typename W>
inline void matvec_block(const W* w, int in, int out, const float* x, float* y) {
  __m512 acc[V];
  for (int v = 0; v < V; ++v) acc[v] = _mm512_loadu_ps(y + 16 * v);
  int i = 0;
  if (V < 8) {  // too few chains to hide FMA latency: a second set of accumulators takes odd inputs
    __m512 odd[V];
    for (int v = 0; v < V; ++v) odd[v] = _mm512_setzero_ps();
    for (; i + 1 < in; i += 2) {
      const __m512 x0 = _mm512_set1_ps(x[i]), x1 = _mm512_set1_ps(x[i + 1]);
      const W* r0 = w + static_cast<long>(i) * out;
      const W* r1 = r0 + out;
      for (int v = 0; v < V; ++v) {
        acc[v] = _mm512_fmadd_ps(load_weights(r0 + 16 * v), x0, acc[v]);
        odd[v] = _mm512_fmadd_ps(load_weights(r1 + 16 * v), x1, odd[v]);
      }
    }
    for (int v = 0; v < V; ++v) acc[v] = _mm512_add_ps(acc[v], odd[v]);
  }
  for (; i < in; ++i) {
    const __m512 xi = _mm512_set1_ps(x[i]);
    const W* row = w + static_cast<long>(i) * out;
    for (int v = 0; v < V; ++v) acc[v] = _mm512_fmadd_ps(load_weights(row + 16 * v), xi, acc[v]);
  }
  for (int v = 0; v < V; ++v) _mm512_storeu_ps(y + 16 * v, acc[v]);
}

template <typename W>
void matvec_any(const W* w, int in, int out, const float* x, float* y) {
  int o = 0;
  for (; o + 128 <= out; o += 128) matvec_block<8>(w + o, in, out, x, y + o);
  switch ((out - o) / 16) {
    case 7: matvec_block<7>(w + o, in, out, x, y + o); break;
    case 6: matvec_block<6>(w + o, in, out, x, y + o); break;
    case 5: matvec_block<5>(w + o, in, out, x, y + o); break;
    case 4: matvec_block<4>(w + o, in, out, x, y + o); break;
    case 3: matvec_block<3>(w + o, in, out, x, y + o); break;
    case 2: matvec_block<2>(w + o, in, out, x, y + o); break;
    case 1: matvec_block<1>(w + o, in, out, x, y + o); break;
    default: break;
  }
}

// R rows of x against V output vectors: R * V accumulators (K = r * V + v), each weight vector loaded once
// for R rows. Every output is its start value plus the products in input order, one FMA chain each,
// whatever R and V: a row's result does not depend on how many rows share the pass (the engine's streams
// batch freely). Written as folds over constant indices so that GCC keeps the accumulators in registers
// (with loops over an accumulator array it stores them to the stack every iteration).
template <int R, int V, typename W, int... K>
inline void matmat_block(Indices<K...>, const W* w, int in, int out, const float* x, int x_stride, float* y,
                         int y_stride) {
  __m512 acc[R * V];
  ((acc[K] = _mm512_loadu_ps(y + (K / V) * y_stride + 16 * (K % V))), ...);
  for (int i = 0; i < in; ++i) {
    const W* row = w + static_cast<long>(i) * out;
    ((acc[K] = _mm512_fmadd_ps(load_weights(row + 16 * (K % V)),
                               _mm512_set1_ps(x[static_cast<long>(K / V) * x_stride + i]), acc[K])),
     ...);
  }
  ((_mm512_storeu_ps(y + (K / V) * y_stride + 16 * (K % V), acc[K])), ...);
}

template <int R, int V, typename W>
inline void matmat_block(const W* w, int in, int out, const float* x, int x_stride, float* y, int y_stride) {
  matmat_block<R, V>(typename MakeIndices<R * V>::type{}, w, in, out, x, x_stride, y, y_stride);
}

// The last `rest` (< V) vectors of a row group's outputs.
template <int R, int V, typename W>
inline void matmat_tail(int rest, const W* w, int in, int out, const float* x, int x_stride, float* y, int y_stride) {
  if constexpr (V > 0) {
    if (rest == V) matmat_block<R, V>(w, in, out, x, x_stride, y, y_stride);
    else matmat_tail<R, V - 1>(rest, w, in, out, x, x_stride, y, y_stride);
  }
}

// `groups` groups of R rows. Column blocks outside, row groups inside, so a block of weights stays in L1
// while every group reads it. V within the 32 registers: R * V accumulators, with chains enough for FMA latency.
template <int R, typename W>
void matmat_rows(const W* w, int in, int out, const float* x, int x_stride, int groups, float* y, int y_stride) {
  constexpr int V = R == 4 ? 4 : R == 3 ? 5 : 8;
  int o = 0;
  for (; o + 16 * V <= out; o += 16 * V) {
    for (int g = 0; g < groups; ++g) {
      matmat_block<R, V>(w + o, in, out, x + static_cast<long>(g) * R * x_stride, x_stride,
                         y + static_cast<long>(g) * R * y_stride + o, y_stride);
    }
  }
  if (o == out) return;
  for (int g = 0; g < groups; ++g) {
    matmat_tail<R, V - 1>((out - o) / 16, w + o, in, out, x + static_cast<long>(g) * R * x_stride, x_stride,
                          y + static_cast<long>(g) * R * y_stride + o, y_stride);
  }
}

template <typename W>
void matmat_any(const W* w, int in, int out, const float* x, int x_stride, int rows, float* y, int y_stride) {
  const int groups = rows / 4, rest = rows % 4;
  if (groups) matmat_rows<4>(w, in, out, x, x_stride, groups, y, y_stride);
  x += static_cast<long>(groups) * 4 * x_stride;
  y += static_cast<long>(groups) * 4 * y_stride;
  if (rest == 3) matmat_rows<3>(w, in, out, x, x_stride, 1, y, y_stride);
  if (rest == 2) matmat_rows<2>(w, in, out, x, x_stride, 1, y, y_stride);
  if (rest == 1) matmat_rows<1>(w, in, out, x, x_stride, 1, y, y_stride);
}

void matvec(const float* w, int in, int out, const float* x, float* y) { matvec_any(w, in, out, x, y); }
void matvec_h(const uint16_t* w, int in, int out, const float* x, float* y) { matvec_any(w, in, out, x, y); }
void matmat(const float* w, int in, int out, const float* x, int x_stride, int rows, float* y, int y_stride) {
  matmat_any(w, in, out, x, x_stride, rows, y, y_stride);
}
void matmat_h(const uint16_t* w, int in, int out, const float* x, int x_stride, int rows, float* y, int y_stride) {
  matmat_any(w, in, out, x, x_stride, rows, y, y_stride);
}

// exp by Cody-Waite reduction and Cephes' polynomial; the same steps as sampling_exp in csrc/core/sampling.h.
inline __m512 exp_core(__m512 x) {
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(k, _mm512_set1_ps(-0.693145751953125f), x);
  r = _mm512_fmadd_ps(k, _mm512_set1_ps(-1.428606765330187e-6f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
  const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(y, _mm512_castsi512_ps(bits));
}

// tanh(f) * sigmoid(g) = (1 - e1) / ((1 + e1) (1 + e2)) with e1 = exp(-2f), e2 = exp(-g): one division.
void gate(const float* a, int half, float* z) {
  const __m512 one = _mm512_set1_ps(1.0f), lo = _mm512_set1_ps(-87.0f), hi = _mm512_set1_ps(88.0f);
  for (int o = 0; o < half; o += 16) {
    const __m512 f = _mm512_mul_ps(_mm512_loadu_ps(a + o), _mm512_set1_ps(-2.0f));
    const __m512 g = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_loadu_ps(a + half + o));
    const __m512 e1 = exp_core(_mm512_min_ps(_mm512_max_ps(f, lo), hi));
    const __m512 e2 = exp_core(_mm512_min_ps(_mm512_max_ps(g, lo), hi));
    const __m512 den = _mm512_mul_ps(_mm512_add_ps(one, e1), _mm512_add_ps(one, e2));
    _mm512_storeu_ps(z + o, _mm512_div_ps(_mm512_sub_ps(one, e1), den));
  }
}

void relu(float* v, int n) {
  const __m512 zero = _mm512_setzero_ps();
  for (int i = 0; i < n; i += 16) _mm512_storeu_ps(v + i, _mm512_max_ps(_mm512_loadu_ps(v + i), zero));
}

}  // namespace

const Kernels* avx512_kernels() {
  // Picks, and the int8 product where the CPU lacks VNNI: AVX2's kernels (results are bit-identical in every
  // set; no AVX-512 picks written yet).
  const Kernels& avx2 = avx2_kernels() ? *avx2_kernels() : portable_kernels();
  const Q8Product vnni = avx512_vnni_matmat_q8();
  static const Kernels kernels{"avx512", 16, matvec, matmat, matvec_h, matmat_h, vnni ? vnni : avx2.matmat_q8, gate,
                               relu, avx2.pick_rows};
  return __builtin_cpu_supports("avx512f") ? &kernels : nullptr;
}

}  // namespace wavenet_rt::cpu

#else

namespace wavenet_rt::cpu {
const Kernels* avx512_kernels() { return nullptr; }
}  // namespace wavenet_rt::cpu

#endif
