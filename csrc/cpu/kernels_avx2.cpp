// AVX2+FMA(+F16C) versions of the CPU engine's inner loops (kernels.h). The only file built with -mavx2:
// it includes no header with shared inline code (kernels.h's functions are static, indices.h holds types),
// so no AVX2 instruction can leak into code the portable path shares (inline functions are merged across files at link time).
#include "cpu/indices.h"
#include "cpu/kernels.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

namespace wavenet_rt::cpu {
namespace {

// V accumulators of 8 outputs each, kept in registers across the whole input loop.
// Loads 8 weights as floats, from float32 or from half storage.
inline __m256 load_weights(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load_weights(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

template <int V, typename W>
inline void matvec_block(const W* w, int in, int out, const float* x, float* y) {
  __m256 acc[V];
  for (int v = 0; v < V; ++v) acc[v] = _mm256_loadu_ps(y + 8 * v);
  int i = 0;
  if (V < 8) {  // too few chains to hide FMA latency: a second set of accumulators takes odd inputs
    __m256 odd[V];
    for (int v = 0; v < V; ++v) odd[v] = _mm256_setzero_ps();
    for (; i + 1 < in; i += 2) {
      const __m256 x0 = _mm256_broadcast_ss(x + i), x1 = _mm256_broadcast_ss(x + i + 1);
      const W* r0 = w + static_cast<long>(i) * out;
      const W* r1 = r0 + out;
      for (int v = 0; v < V; ++v) {
        acc[v] = _mm256_fmadd_ps(load_weights(r0 + 8 * v), x0, acc[v]);
        odd[v] = _mm256_fmadd_ps(load_weights(r1 + 8 * v), x1, odd[v]);
      }
    }
    for (int v = 0; v < V; ++v) acc[v] = _mm256_add_ps(acc[v], odd[v]);
  }
  for (; i < in; ++i) {
    const __m256 xi = _mm256_broadcast_ss(x + i);
    const W* row = w + static_cast<long>(i) * out;
    for (int v = 0; v < V; ++v) acc[v] = _mm256_fmadd_ps(load_weights(row + 8 * v), xi, acc[v]);
  }
  for (int v = 0; v < V; ++v) _mm256_storeu_ps(y + 8 * v, acc[v]);
}

template <typename W>
void matvec_any(const W* w, int in, int out, const float* x, float* y) {
  int o = 0;
  for (; o + 64 <= out; o += 64) matvec_block<8>(w + o, in, out, x, y + o);
  switch ((out - o) / 8) {
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
  __m256 acc[R * V];
  ((acc[K] = _mm256_loadu_ps(y + (K / V) * y_stride + 8 * (K % V))), ...);
  for (int i = 0; i < in; ++i) {
    const W* row = w + static_cast<long>(i) * out;
    ((acc[K] = _mm256_fmadd_ps(load_weights(row + 8 * (K % V)),
                               _mm256_broadcast_ss(x + static_cast<long>(K / V) * x_stride + i), acc[K])),
     ...);
  }
  ((_mm256_storeu_ps(y + (K / V) * y_stride + 8 * (K % V), acc[K])), ...);
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
// while every group reads it. V fills the 16 registers: R * V accumulators, with chains enough for FMA latency.
template <int R, typename W>
void matmat_rows(const W* w, int in, int out, const float* x, int x_stride, int groups, float* y, int y_stride) {
  constexpr int V = R == 4 ? 3 : R == 3 ? 4 : R == 2 ? 6 : 8;
  int o = 0;
  for (; o + 8 * V <= out; o += 8 * V) {
    for (int g = 0; g < groups; ++g) {
      matmat_block<R, V>(w + o, in, out, x + static_cast<long>(g) * R * x_stride, x_stride,
                         y + static_cast<long>(g) * R * y_stride + o, y_stride);
    }
  }
  if (o == out) return;
  for (int g = 0; g < groups; ++g) {
    matmat_tail<R, V - 1>((out - o) / 8, w + o, in, out, x + static_cast<long>(g) * R * x_stride, x_stride,
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

// int8 mode (kernels.h): each row of x quantized to 16-bit integers, two inputs to an int32 broadcast; weights
// held in input pairs, so one vpmaddwd multiplies 8 outputs by 2 inputs and adds the pairs, exactly.
float quantize_row(const float* x, int in, int32_t* pairs) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 vmax = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= in; i += 8) vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, vmax);
  float m = 0.0f;
  for (float a : lanes) m = a > m ? a : m;
  for (; i < in; ++i) {
    const float a = x[i] < 0.0f ? -x[i] : x[i];
    m = a > m ? a : m;
  }
  const float inv = m > 1e-30f ? kQ8InputLevels / m : 0.0f;
  const __m256 vinv = _mm256_set1_ps(inv);
  int16_t* q = reinterpret_cast<int16_t*>(pairs);
  i = 0;
  for (; i + 16 <= in; i += 16) {  // cvtps rounds to nearest even, as nearbyint does in the portable kernel
    const __m256i lo = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
    const __m256i hi = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8), vinv));
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xD8);  // undo the lane interleave
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), packed);
  }
  for (; i < in; ++i) q[i] = static_cast<int16_t>(_mm_cvtss_si32(_mm_set_ss(x[i] * inv)));
  if (in % 2) q[in] = 0;
  return m > 1e-30f ? m / kQ8InputLevels : 0.0f;
}

// An empty instruction that needs `v` in a register: keeps GCC from spilling a loop's accumulators.
inline void in_register(__m256i& v) { __asm__("" : "+x"(v)); }

// 8 outputs x 2 inputs of int8 weights, widened to 16 int16 lanes.
inline __m256i load_pair_weights(const int8_t* p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// R rows of quantized x against V vectors of 8 outputs: R * V int32 accumulators in registers, then
// y += acc * (xscale * scale), fused, per output.
template <int R, int V, int... K>
inline void q8_block(Indices<K...>, const int8_t* w, const float* scales, int pairs, int out, const int32_t* xq,
                     const float* xscale, float* y, int y_stride) {
  __m256i acc[R * V];
  ((acc[K] = _mm256_setzero_si256()), ...);
  for (int p = 0; p < pairs; ++p) {
    const int8_t* row = w + static_cast<long>(p) * out * 2;
    ((acc[K] = _mm256_add_epi32(acc[K], _mm256_madd_epi16(load_pair_weights(row + 16 * (K % V)),
                                                          _mm256_set1_epi32(xq[(K / V) * kQ8MaxInputs / 2 + p])))),
     ...);
    // Pin the accumulators to registers across iterations: without this GCC spills some to the stack.
    (in_register(acc[K]), ...);
  }
  ((_mm256_storeu_ps(y + (K / V) * y_stride + 8 * (K % V),
                     _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[K]),
                                     _mm256_mul_ps(_mm256_set1_ps(xscale[K / V]), _mm256_loadu_ps(scales + 8 * (K % V))),
                                     _mm256_loadu_ps(y + (K / V) * y_stride + 8 * (K % V))))),
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

// One group of R rows: quantized once, then every block of outputs.
template <int R>
void q8_rows(const int8_t* w, const float* scales, int in, int out, const float* x, int x_stride, float* y,
             int y_stride) {
  // Fewer accumulators than the float kernel: each vpmaddwd needs a register for its product before the add
  // (an FMA accumulates in place), and R * V + V weights + R inputs must fit the 16 registers unspilled.
  constexpr int V = R == 4 ? 2 : R == 3 ? 3 : R == 2 ? 4 : 6;
  alignas(32) int32_t xq[R * kQ8MaxInputs / 2];
  float xscale[R];
  for (int r = 0; r < R; ++r) xscale[r] = quantize_row(x + static_cast<long>(r) * x_stride, in, xq + r * kQ8MaxInputs / 2);
  const int pairs = (in + 1) / 2;
  int o = 0;
  for (; o + 8 * V <= out; o += 8 * V) q8_block<R, V>(w + 2 * o, scales + o, pairs, out, xq, xscale, y + o, y_stride);
  if (o < out) q8_tail<R, V - 1>((out - o) / 8, w + 2 * o, scales + o, pairs, out, xq, xscale, y + o, y_stride);
}

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

// exp by Cody-Waite reduction and Cephes' polynomial; the same steps as sampling_exp in csrc/core/sampling.h.
inline __m256 exp_core(__m256 x) {
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fmadd_ps(k, _mm256_set1_ps(-0.693145751953125f), x);
  r = _mm256_fmadd_ps(k, _mm256_set1_ps(-1.428606765330187e-6f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
}

// tanh(f) * sigmoid(g) = (1 - e1) / ((1 + e1) (1 + e2)) with e1 = exp(-2f), e2 = exp(-g): one division.
void gate(const float* a, int half, float* z) {
  const __m256 one = _mm256_set1_ps(1.0f), lo = _mm256_set1_ps(-87.0f), hi = _mm256_set1_ps(88.0f);
  for (int o = 0; o < half; o += 8) {
    const __m256 f = _mm256_mul_ps(_mm256_loadu_ps(a + o), _mm256_set1_ps(-2.0f));
    const __m256 g = _mm256_sub_ps(_mm256_setzero_ps(), _mm256_loadu_ps(a + half + o));
    const __m256 e1 = exp_core(_mm256_min_ps(_mm256_max_ps(f, lo), hi));
    const __m256 e2 = exp_core(_mm256_min_ps(_mm256_max_ps(g, lo), hi));
    const __m256 den = _mm256_mul_ps(_mm256_add_ps(one, e1), _mm256_add_ps(one, e2));
    _mm256_storeu_ps(z + o, _mm256_div_ps(_mm256_sub_ps(one, e1), den));
  }
}

void relu(float* v, int n) {
  const __m256 zero = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) _mm256_storeu_ps(v + i, _mm256_max_ps(_mm256_loadu_ps(v + i), zero));
}

// Columns i0 .. i0 + 7 of eight rows, turned so that vector c holds column i0 + c of every row (lane = row).
inline void load_columns(const float* const* rows, int i0, __m256* cols) {
  __m256 t[8], u[8];
  for (int k = 0; k < 8; k += 2) {
    const __m256 a = _mm256_loadu_ps(rows[k] + i0), b = _mm256_loadu_ps(rows[k + 1] + i0);
    t[k] = _mm256_unpacklo_ps(a, b);  // a0 b0 a1 b1 | a4 b4 a5 b5
    t[k + 1] = _mm256_unpackhi_ps(a, b);  // a2 b2 a3 b3 | a6 b6 a7 b7
  }
  for (int k = 0; k < 8; k += 4) {
    u[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);      // columns 0 | 4 of four rows
    u[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);  // 1 | 5
    u[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);  // 2 | 6
    u[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE);  // 3 | 7
  }
  for (int c = 0; c < 4; ++c) {
    cols[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
    cols[c + 4] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
  }
}

inline __m256 lane_indices(int i) { return _mm256_castsi256_ps(_mm256_set1_epi32(i)); }
inline __m256 greater(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }  // false for NaN, as `>`

// Up to eight rows side by side, lane = row (rows beyond `rows` repeat row 0 and are not written): the
// contract's three passes (argmax; weights and their left-to-right total; the running sum against
// u * total), each lane doing the scalar code's operations in its order.
static_assert(kPickRows == 8, "pick_eight fills one AVX2 vector of rows");

void pick_eight(const float* logits, int stride, int rows, int n, const float* inv_temperatures,
                const float* uniforms, float* scratch, int32_t* best_out, int32_t* pick_out) {
  const float* row[8];
  alignas(32) float inv[8], u[8];
  for (int r = 0; r < 8; ++r) {
    const int from = r < rows ? r : 0;
    row[r] = logits + static_cast<long>(from) * stride;
    inv[r] = inv_temperatures[from];
    u[r] = uniforms[from];
  }
  __m256 cols[8];
  __m256 best = _mm256_setzero_ps(), max = _mm256_setzero_ps();  // best: int32 lanes, in float registers
  for (int i0 = 0; i0 < n; i0 += 8) {
    load_columns(row, i0, cols);
    int c = 0;
    if (i0 == 0) max = cols[c++];  // the scalar argmax starts at class 0
    for (; c < 8 && i0 + c < n; ++c) {
      const __m256 gt = greater(cols[c], max);
      max = _mm256_blendv_ps(max, cols[c], gt);
      best = _mm256_blendv_ps(best, lane_indices(i0 + c), gt);
    }
  }
  const __m256 vinv = _mm256_load_ps(inv), floor = _mm256_set1_ps(-87.0f);
  __m256 total = _mm256_setzero_ps();
  for (int i0 = 0; i0 < n; i0 += 8) {
    load_columns(row, i0, cols);
    for (int c = 0; c < 8 && i0 + c < n; ++c) {
      const __m256 w = exp_core(_mm256_max_ps(_mm256_mul_ps(_mm256_sub_ps(cols[c], max), vinv), floor));
      _mm256_storeu_ps(scratch + 8L * (i0 + c), w);
      total = _mm256_add_ps(total, w);
    }
  }
  const __m256 target = _mm256_mul_ps(_mm256_load_ps(u), total), zero = _mm256_setzero_ps();
  __m256 running = zero, done = zero, pick = zero, last_nonzero = best;
  for (int i = 0; i < n; ++i) {
    const __m256 w = _mm256_loadu_ps(scratch + 8L * i);
    running = _mm256_add_ps(running, w);
    const __m256 now = _mm256_andnot_ps(done, greater(running, target));
    pick = _mm256_blendv_ps(pick, lane_indices(i), now);
    last_nonzero = _mm256_blendv_ps(last_nonzero, lane_indices(i), greater(w, zero));
    done = _mm256_or_ps(done, now);
    if (i % 8 == 7 && _mm256_movemask_ps(done) == 0xFF) break;
  }
  alignas(32) int32_t picks[8], bests[8];
  _mm256_store_ps(reinterpret_cast<float*>(picks), _mm256_blendv_ps(last_nonzero, pick, done));
  _mm256_store_ps(reinterpret_cast<float*>(bests), best);
  for (int r = 0; r < rows; ++r) {
    best_out[r] = bests[r];
    pick_out[r] = picks[r];
  }
}

void pick_rows(const float* logits, int stride, int rows, int n, const float* inv_temperatures, const float* uniforms,
               float* scratch, int32_t* best, int32_t* pick) {
  for (int r = 0; r < rows; r += kPickRows) {
    pick_eight(logits + static_cast<long>(r) * stride, stride, rows - r < kPickRows ? rows - r : kPickRows, n,
               inv_temperatures + r, uniforms + r, scratch, best + r, pick + r);
  }
}

}  // namespace

const Kernels* avx2_kernels() {
  static const Kernels kernels{"avx2", 8, matvec, matmat, matvec_h, matmat_h, matmat_q8, gate, relu, pick_rows};
  const bool runs = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return runs ? &kernels : nullptr;
}

}  // namespace wavenet_rt::cpu

#else

namespace wavenet_rt::cpu {
const Kernels* avx2_kernels() { return nullptr; }
}  // namespace wavenet_rt::cpu

#endif
