// The int8 mode's product (kernels.h, matmat_q8) with AVX-512 VNNI: one vpdpwssd multiplies 16 outputs by
// 2 inputs and adds both products into its int32 accumulators, where AVX2 needs a vpmaddwd and a vpaddd for
// 8 outputs. The only file built with -mavx512bw -mavx512vnni; like the other SIMD files it includes no
// header with shared inline code, so none of its instructions can leak into code other files use.
#include "cpu/indices.h"
#include "cpu/kernels.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#include <immintrin.h>

namespace wavenet_rt::cpu {
namespace {

// A row of x as kernels.h quantizes it: 16-bit integers, two to an int32 (zero-padded to an even count).
// The maximum is exact in any order and cvtps rounds to nearest even, as nearbyint does in the portable set.
float quantize_row(const float* x, int in, int32_t* pairs) {
  __m512 vmax = _mm512_setzero_ps();
  int i = 0;
  for (; i + 16 <= in; i += 16) vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
  const __mmask16 tail = static_cast<__mmask16>((1u << (in - i)) - 1);
  vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_maskz_loadu_ps(tail, x + i)));
  const float m = _mm512_reduce_max_ps(vmax);
  const float inv = m > 1e-30f ? kQ8InputLevels / m : 0.0f;
  const __m512 vinv = _mm512_set1_ps(inv);
  int16_t* q = reinterpret_cast<int16_t*>(pairs);
  for (i = 0; i + 16 <= in; i += 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i),
                        _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i), vinv))));
  }
  const __m512 last = _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + i), vinv);
  _mm512_mask_cvtsepi32_storeu_epi16(q + i, tail, _mm512_cvtps_epi32(last));
  if (in % 2) q[in] = 0;
  return m > 1e-30f ? m / kQ8InputLevels : 0.0f;
}

// 16 outputs x 2 inputs of int8 weights, widened to 32 int16 lanes.
inline __m512i load_pair_weights(const int8_t* p) {
  return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// R rows of quantized x against V vectors of 16 outputs: R * V int32 accumulators in registers, then
// y += acc * (xscale * scale), fused, per output (the portable set's rounding).
template <int R, int V, int... K>
inline void q8_block(Indices<K...>, const int8_t* w, const float* scales, int pairs, int out, const int32_t* xq,
                     const float* xscale, float* y, int y_stride) {
  __m512i acc[R * V];
  ((acc[K] = _mm512_setzero_si512()), ...);
  for (int p = 0; p < pairs; ++p) {
    const int8_t* row = w + static_cast<long>(p) * out * 2;
    __m512i weights[V];
    for (int v = 0; v < V; ++v) weights[v] = load_pair_weights(row + 32 * v);
    ((acc[K] = _mm512_dpwssd_epi32(acc[K], _mm512_set1_epi32(xq[(K / V) * kQ8MaxInputs / 2 + p]), weights[K % V])),
     ...);
  }
  ((_mm512_storeu_ps(y + (K / V) * y_stride + 16 * (K % V),
                     _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[K]),
                                     _mm512_mul_ps(_mm512_set1_ps(xscale[K / V]),
                                                   _mm512_loadu_ps(scales + 16 * (K % V))),
                                     _mm512_loadu_ps(y + (K / V) * y_stride + 16 * (K % V))))),
   ...);
}

template <int R, int V>
inline void q8_block(const int8_t* w, const float* scales, int pairs, int out, const int32_t* xq, const float* xscale,
                     float* y, int y_stride) {
  q8_block<R, V>(typename MakeIndices<R * V>::type{}, w, scales, pairs, out, xq, xscale, y, y_stride);
}

template <int R, int V>
inline void q8_tail(int rest, const int8_t* w, const float* scales, int pairs, int out, const int32_t* xq,
                    const float* xscale, float* y, int y_stride) {
  if constexpr (V > 0) {
    if (rest == V) q8_block<R, V>(w, scales, pairs, out, xq, xscale, y, y_stride);
    else q8_tail<R, V - 1>(rest, w, scales, pairs, out, xq, xscale, y, y_stride);
  }
}

// One group of R rows: quantized once, then every block of outputs. R * V accumulators, V widened weight
// vectors and the broadcast fit the 32 registers.
template <int R>
void q8_rows(const int8_t* w, const float* scales, int in, int out, const float* x, int x_stride, float* y,
             int y_stride) {
  constexpr int V = R == 4 ? 4 : R == 3 ? 5 : 8;
  alignas(64) int32_t xq[R * kQ8MaxInputs / 2];
  float xscale[R];
  for (int r = 0; r < R; ++r) xscale[r] = quantize_row(x + static_cast<long>(r) * x_stride, in, xq + r * kQ8MaxInputs / 2);
  const int pairs = (in + 1) / 2;
  int o = 0;
  for (; o + 16 * V <= out; o += 16 * V) q8_block<R, V>(w + 2 * o, scales + o, pairs, out, xq, xscale, y + o, y_stride);
  if (o < out) q8_tail<R, V - 1>((out - o) / 16, w + 2 * o, scales + o, pairs, out, xq, xscale, y + o, y_stride);
}

// out is a multiple of 16: the AVX-512 set's lanes, to which the engine pads every vector.
void matmat_q8(const int8_t* w, const float* scales, int in, int out, const float* x, int x_stride, int rows,
               float* y, int y_stride) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) q8_rows<4>(w, scales, in, out, x + static_cast<long>(r) * x_stride, x_stride,
                                           y + static_cast<long>(r) * y_stride, y_stride);
  const float* xr = x + static_cast<long>(r) * x_stride;
  float* yr = y + static_cast<long>(r) * y_stride;
  if (rows - r == 3) q8_rows<3>(w, scales, in, out, xr, x_stride, yr, y_stride);
  if (rows - r == 2) q8_rows<2>(w, scales, in, out, xr, x_stride, yr, y_stride);
  if (rows - r == 1) q8_rows<1>(w, scales, in, out, xr, x_stride, yr, y_stride);
}

}  // namespace

Q8Product avx512_vnni_matmat_q8() {
  const bool runs = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vnni");
  return runs ? &matmat_q8 : nullptr;
}

}  // namespace wavenet_rt::cpu

#else

namespace wavenet_rt::cpu {
Q8Product avx512_vnni_matmat_q8() { return nullptr; }
}  // namespace wavenet_rt::cpu

#endif
