// The generation kernel: one launch runs a block of samples for every stream, all layers, the head and
// the sampling on chip. A cluster of CTAs (Hopper distributed shared memory) shares each sample's chain:
// every CTA owns a slice of each layer's gate channels and of head1's rows, holds those weights in shared
// memory, and the CTAs swap partial sums through each other's shared memory with one cluster barrier per
// layer (plus two for the head), never through device memory. Two skip paths (kDeferredSkip) give the same
// bits. Host side: cuda_engine.cu.
#pragma once

#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "core/block.h"
#include "core/excitation.h"
#include "core/sampling.h"
#include "core/sleep.h"
#include "cuda/kernel_args.h"

namespace wavenet_rt::cuda {

// Shared memory carve-up, in floats after the (16-byte aligned) weight slice; host and device agree. The
// deferred skip path keeps every layer's z (and needs no skip_acc); the per-layer path one layer's.
struct SmemLayout {
  long long weights_bytes;  // 0 when the slice stays in device memory
  long long x, past_x, fbias, z, xchg_x, skip_acc, xchg_skip, hid, h1, xchg_logits, logits, weights,
      prefix, excite, codes, quiet, dc_blockers, ring_pos;
  long long floats;  // total floats after the weights

  __host__ __device__ long long bytes() const { return weights_bytes + floats * 4; }
};

__host__ __device__ inline SmemLayout smem_layout(const KernelShape& s, long long weights_bytes,
                                                  bool deferred_skip) {
  SmemLayout m{};
  m.weights_bytes = (weights_bytes + 15) / 16 * 16;
  const long long b = s.batch, r = s.residual, taps = s.kernel_size - 1, n = s.cluster;
  long long at = 0;
  auto take = [&at](long long count) {
    const long long start = at;
    at += (count + 3) / 4 * 4;  // keeps every buffer 16-byte aligned
    return start;
  };
  m.x = take(b * r);
  m.past_x = take(s.layers * taps * b * r);
  m.fbias = take(s.layers * b * 2 * s.hn);
  m.z = take((deferred_skip ? s.layers : 1) * b * s.hn);
  m.xchg_x = take(2 * n * b * r);
  m.skip_acc = take(deferred_skip ? 0 : b * s.skip);
  m.xchg_skip = take(n * b * s.skip);
  m.hid = take(b * s.skip);
  m.h1 = take(b * s.sn);
  m.xchg_logits = take(n * b * s.classes);
  m.logits = take(b * s.classes);
  m.weights = take(b * s.classes);
  m.prefix = take(b * s.classes);
  m.excite = take(b);
  m.codes = take(b);
  m.quiet = take(b);
  m.dc_blockers = take(2 * b);  // DcBlocker: two floats
  m.ring_pos = take(s.layers);
  m.floats = at;
  return m;
}

namespace detail {

__device__ __forceinline__ float load(const float* p) { return *p; }
__device__ __forceinline__ float load(const __half* p) { return __half2float(*p); }
__device__ __forceinline__ float load(const __nv_bfloat16* p) { return __bfloat162float(*p); }

// The cluster primitives, reduced to one CTA where clusters do not exist (before sm_90): the host then
// launches clusters of size 1 only.
__device__ __forceinline__ unsigned cluster_rank() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  return cooperative_groups::this_cluster().block_rank();
#else
  return 0;
#endif
}

__device__ __forceinline__ float* peer(float* local, unsigned rank) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  return cooperative_groups::this_cluster().map_shared_rank(local, rank);
#else
  (void)rank;
  return local;
#endif
}

// Every thread of every CTA of the cluster arrives; shared-memory writes before it (local or remote) are
// visible to every thread after it (release/acquire at cluster scope).
__device__ __forceinline__ void cluster_barrier() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cooperative_groups::this_cluster().sync();
#else
  __syncthreads();
#endif
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

// acc[k] += layer k's skip product for output o: weights skip_w[k][h * S + o] times z[z0[k] + h], h in
// order. Both skip paths sum through this one loop (the deferred one N layers at once, as independent
// chains), so they round alike and their logits are equal bit for bit. z goes by index, not by pointer:
// so written, the per-layer kernels compile to the same instructions as before the deferred path existed.
template <int N, typename W>
__device__ __forceinline__ void add_skip_products(float (&acc)[N], const W* const (&skip_w)[N],
                                                  const float* z, const int (&z0)[N], int hn, int S, int o) {
  for (int h = 0; h < hn; ++h) {
#pragma unroll
    for (int k = 0; k < N; ++k) acc[k] += load(skip_w[k] + static_cast<long long>(h) * S + o) * z[z0[k] + h];
  }
}

// Partial sums across the cluster: each CTA writes its share of output i into its own slot (`rank`) of
// every CTA's exchange buffer (n_cta slots of `count` floats); after a cluster barrier each CTA adds the
// slots up in rank order, so every CTA holds the same bits.
__device__ __forceinline__ void share_partial(float* exchange, long long count, long long i, float value,
                                              unsigned rank, int n_cta) {
  for (int peer_rank = 0; peer_rank < n_cta; ++peer_rank) peer(exchange, peer_rank)[rank * count + i] = value;
}

__device__ __forceinline__ float sum_partials(const float* exchange, long long count, long long i, int n_cta,
                                              float sum) {
  for (int k = 0; k < n_cta; ++k) sum += exchange[k * count + i];
  return sum;
}

// The sampling contract of csrc/core/sampling.h for one stream, by one warp: argmax and the exp weights in
// parallel, the running sums left to right by lane 0 (the contract fixes their float order), the search
// in parallel. Returns the class on every lane.
__device__ int sample_warp(const float* logits, float* weights, float* prefix, int classes, float temperature,
                           float u) {
  const int lane = threadIdx.x & 31;
  float best_value = -INFINITY;
  int best = classes;
  for (int q = lane; q < classes; q += 32) {
    if (logits[q] > best_value) {
      best_value = logits[q];
      best = q;
    }
  }
  for (int offset = 16; offset > 0; offset >>= 1) {  // larger value wins, the lower index on ties
    const float other_value = __shfl_xor_sync(0xffffffffu, best_value, offset);
    const int other = __shfl_xor_sync(0xffffffffu, best, offset);
    if (other_value > best_value || (other_value == best_value && other < best)) {
      best_value = other_value;
      best = other;
    }
  }
  if (best == classes) best = 0;  // no logit above -inf (NaN everywhere): class 0, as the CPU's argmax
  if (!(temperature >= kMinTemperature)) return best;
  const float inv_temperature = 1.0f / temperature;
  int last_nonzero = -1;
  for (int q = lane; q < classes; q += 32) {
    weights[q] = sampling_exp((logits[q] - best_value) * inv_temperature);
    if (weights[q] > 0.0f) last_nonzero = q;
  }
  __syncwarp();
  if (lane == 0) {
    float running = 0.0f;
    for (int q = 0; q < classes; ++q) {
      running += weights[q];
      prefix[q] = running;
    }
  }
  __syncwarp();
  const float target = u * prefix[classes - 1];
  int first = classes;
  for (int q = lane; q < classes; q += 32) {
    if (prefix[q] > target) {
      first = q;
      break;
    }
  }
  for (int offset = 16; offset > 0; offset >>= 1) {
    first = min(first, __shfl_xor_sync(0xffffffffu, first, offset));
    last_nonzero = max(last_nonzero, __shfl_xor_sync(0xffffffffu, last_nonzero, offset));
  }
  __syncwarp();  // prefix and weights are reused by the next sample
  if (first < classes) return first;
  return last_nonzero >= 0 ? last_nonzero : best;
}

}  // namespace detail

// Layers whose skip products the deferred path sums at once: independent chains that hide each other's
// latency. 4, because 3 and 5 spill registers under the 128 that ptxas gives this kernel (nvcc 13.0).
constexpr int kSkipChains = 4;

// Block of samples for `batch` streams per cluster. Grid: clusters * cluster CTAs; kThreads threads each.
// kDeferredSkip: each layer's z is kept and the skip products of all layers are summed after the last
// layer, off the layer chain; otherwise each layer adds its skip product before its residual (the first
// path). Both add the same products in the same order: equal bits.
template <typename W, bool kDeferredSkip>
__global__ void __launch_bounds__(kThreads) generate_kernel(const KernelArgs<W> args) {
  using namespace detail;
  const KernelShape& s = args.shape;
  const SliceLayout& sl = args.slice;
  extern __shared__ __align__(16) unsigned char smem[];

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, warps = kThreads / 32;
  const unsigned rank = cluster_rank();
  const int n_cta = s.cluster, B = s.batch, R = s.residual, H = s.half_gate, S = s.skip, Q = s.classes;
  const int K = s.kernel_size, taps = K - 1, hn = s.hn, sn = s.sn, C = s.cond_channels;
  const int first_stream = static_cast<int>(blockIdx.x / n_cta) * B;

  const long long weight_bytes = args.resident ? s.slice_elems * static_cast<long long>(sizeof(W)) : 0;
  const SmemLayout m = smem_layout(s, weight_bytes, kDeferredSkip);
  float* f = reinterpret_cast<float*>(smem + m.weights_bytes);
  float *x = f + m.x, *past_x = f + m.past_x, *fbias = f + m.fbias, *z = f + m.z;
  float *xchg_x = f + m.xchg_x, *skip_acc = f + m.skip_acc, *xchg_skip = f + m.xchg_skip, *hid = f + m.hid;
  float *h1 = f + m.h1, *xchg_logits = f + m.xchg_logits, *logits = f + m.logits;
  float *weights = f + m.weights, *prefix = f + m.prefix, *excite = f + m.excite;
  int* codes = reinterpret_cast<int*>(f + m.codes);
  int* quiet = reinterpret_cast<int*>(f + m.quiet);
  // Every CTA keeps its own copy of the streams' DC blockers: each samples the same class, so all copies
  // step alike, and rank 0 stores them back at the end.
  DcBlocker* dc_blockers = reinterpret_cast<DcBlocker*>(f + m.dc_blockers);
  // Each layer's ring slot of the current sample, t % ring_rows: set once per launch, then advanced by
  // one per sample (no 64-bit modulo per element).
  int* ring_pos = reinterpret_cast<int*>(f + m.ring_pos);

  const W* w = args.slices + rank * s.slice_elems;
  if (args.resident) {  // the launch's one read of the weights from device memory
    W* local = reinterpret_cast<W*>(smem);
    for (long long i = tid; i < s.slice_elems; i += kThreads) local[i] = w[i];
    w = local;
  }
  for (int b = tid; b < B; b += kThreads) {
    codes[b] = args.codes[first_stream + b];
    quiet[b] = args.quiet_frames[first_stream + b];
    dc_blockers[b] = args.dc_blockers[first_stream + b];
  }
  for (int l = tid; l < s.layers; l += kThreads) {
    ring_pos[l] = s.ring_rows[l] ? static_cast<int>(args.t0 % static_cast<unsigned>(s.ring_rows[l])) : 0;
  }
  cluster_barrier();  // every CTA of the cluster has started (its shared memory exists) before any peer write

  // Frame biases of the owned gate rows: conv bias + global class + (with_cond) the frame's projection.
  auto set_frame_biases = [&](uint64_t t, bool with_cond) {
    const long long frame =
        with_cond ? block_first_frame(t, s.cond_hop) - block_first_frame(args.t0, s.cond_hop) : 0;
    for (int i = tid; i < s.layers * B * 2 * hn; i += kThreads) {
      const int rows_of = s.by_gate_rows.div(i), row = i - rows_of * 2 * hn;
      const int l = s.by_batch.div(rows_of), b = rows_of - l * B;
      const int h = rank * hn + (row < hn ? row : row - hn);
      float v = 0.0f;
      if (h < H) {
        const int g = row < hn ? h : H + h;  // filter half, then gate half
        v = args.conv_bias[l * 2 * H + g];
        if (args.glob)
          v += args.glob[(static_cast<long long>(l) * s.global_classes + args.global_ids[first_stream + b]) *
                             2 * H +
                         g];
        if (with_cond && C) {
          const float* cw = args.cond_weight + (static_cast<long long>(l) * 2 * H + g) * C;
          const float* cf = args.cond + static_cast<long long>(first_stream + b) * C * args.frames + frame;
          for (int c = 0; c < C; ++c) v += cw[c] * cf[static_cast<long long>(c) * args.frames];
        }
      }
      fbias[i] = v;
    }
  };

  // Counts each stream's frames in a row without a key, as the CPU engine does: a warp per stream, lanes
  // over the channels. Every CTA reads the same frame, so every CTA keeps the same count.
  auto count_quiet_frames = [&](uint64_t t) {
    const long long frame = block_first_frame(t, s.cond_hop) - block_first_frame(args.t0, s.cond_hop);
    for (int b = warp; b < B; b += warps) {
      const float* cf = args.cond + static_cast<long long>(first_stream + b) * C * args.frames + frame;
      bool key = false;
      for (int c = lane; c < C && !key; c += 32) key = cf[static_cast<long long>(c) * args.frames] != 0.0f;
      key = __any_sync(0xffffffffu, key);
      if (lane == 0) {
        quiet[b] = count_quiet_frame(quiet[b], key, t % s.cond_hop == 0, args.sleep_after_frames);
      }
    }
  };

  // One layer for every stream of the cluster. priming: every tap reads the current input (the state
  // after an endless constant input), the ring is filled with it and the skip path is not needed.
  auto run_layer = [&](int l, bool priming) {
    const bool last = l == s.layers - 1;
    const int rows = s.ring_rows[l];
    const int z_at = kDeferredSkip ? l * B * hn : 0;  // this layer's z: kept for the skip sum if deferred
    float* layer_past = past_x + static_cast<long long>(l) * taps * B * R;
    if (s.by_cluster.mod(l) == static_cast<int>(rank) && rows) {  // one CTA keeps the layer's ring
      for (int i = tid; i < B * R; i += kThreads) {
        const int b = s.by_residual.div(i), o = i - b * R;
        float* ring = args.rings + (first_stream + b) * s.ring_stride + s.ring_offset[l];
        if (priming) {
          for (int row = 0; row < rows; ++row) ring[static_cast<long long>(row) * R + o] = x[i];
        } else {
          ring[static_cast<long long>(ring_pos[l]) * R + o] = x[i];
        }
      }
    }
    if (priming) {
      for (int i = tid; i < taps * B * R; i += kThreads) layer_past[i] = x[i % (B * R)];
      __syncthreads();
    }
    // Pre-activation of owned row `row` (filter rows first, then gate rows) for stream b: lanes over the
    // inputs, then a warp sum.
    const W* conv = w + l * sl.layer_stride + sl.conv;
    auto pre_activation = [&](int b, int row) {
      const W* wr = conv + static_cast<long long>(row) * K * R;
      float acc = 0.0f;
      for (int i = lane; i < R; i += 32) acc += load(wr + (K - 1) * R + i) * x[b * R + i];  // current input
      for (int m1 = 0; m1 < taps; ++m1) {  // tap K - 2 - m1 reads the input (m1 + 1) * dilation back
        const float* in = layer_past + (static_cast<long long>(m1) * B + b) * R;
        for (int i = lane; i < R; i += 32) acc += load(wr + (K - 2 - m1) * R + i) * in[i];
      }
      return warp_sum(acc) + fbias[(l * B + b) * 2 * hn + row];
    };
    // The gated activations: a warp per (stream, owned channel) computes its filter and gate rows, so z
    // needs no second pass (and no barrier) over the pre-activations.
    for (int item = warp; item < B * hn; item += warps) {
      const int b = s.by_hn.div(item), h = item - b * hn;
      const float filter = pre_activation(b, h), gate = pre_activation(b, hn + h);
      if (lane == 0) z[z_at + item] = tanhf(filter) * sigmoid(gate);
    }
    __syncthreads();
    if (!kDeferredSkip && !priming) {  // skip: accumulated locally, summed across the cluster once a sample
      const W* const skip_w[1] = {w + l * sl.layer_stride + sl.skip};
      for (int i = tid; i < B * S; i += kThreads) {
        const int b = s.by_skip.div(i), o = i - b * S;
        const int z0[1] = {b * hn};
        float acc[1] = {0.0f};
        add_skip_products(acc, skip_w, z, z0, hn, S, o);
        skip_acc[i] += acc[0];
      }
    }
    if (last) return;
    // Residual: this CTA's share of every output, written into slot `rank` of every CTA's exchange
    // buffer; buffers alternate by layer so a fast CTA never overwrites what a slow one still reads.
    const W* res_w = w + l * sl.layer_stride + sl.res;
    float* exchange = xchg_x + static_cast<long long>(l & 1) * n_cta * B * R;
    for (int i = tid; i < B * R; i += kThreads) {
      const int b = s.by_residual.div(i), o = i - b * R;
      float acc = 0.0f;
      for (int h = 0; h < hn; ++h)
        acc += load(res_w + static_cast<long long>(h) * R + o) * z[z_at + b * hn + h];
      share_partial(exchange, B * R, i, acc, rank, n_cta);
    }
    cluster_barrier();
    for (int i = tid; i < B * R; i += kThreads) {
      x[i] += sum_partials(exchange, B * R, i, n_cta, args.res_bias[l * R + s.by_residual.mod(i)]);
    }
    __syncthreads();
  };

  // The deferred path's skip sum of output i (stream b, channel o): kSkipChains layers' products at a
  // time, each from 0 as the per-layer path starts it, then added in layer order to a sum from 0, as the
  // per-layer path adds them to skip_acc. Every layer's z was written before its layer's __syncthreads.
  auto deferred_skip = [&](int i) {
    const int b = s.by_skip.div(i), o = i - b * S;
    float sum = 0.0f;
    for (int l0 = 0; l0 < s.layers; l0 += kSkipChains) {
      const W* skip_w[kSkipChains];
      int z0[kSkipChains];
#pragma unroll  // every index constant: the arrays stay in registers
      for (int k = 0; k < kSkipChains; ++k) {
        const int l = min(l0 + k, s.layers - 1);  // past the last layer: a chain computed, never added
        skip_w[k] = w + l * sl.layer_stride + sl.skip;
        z0[k] = (l * B + b) * hn;
      }
      float acc[kSkipChains] = {};
      add_skip_products(acc, skip_w, z, z0, hn, S, o);
#pragma unroll
      for (int k = 0; k < kSkipChains; ++k) {
        if (l0 + k < s.layers) sum += acc[k];
      }
    }
    return sum;
  };

  auto embed_codes = [&]() {
    for (int i = tid; i < B * R; i += kThreads) {
      const int b = s.by_residual.div(i);
      x[i] = args.embed[codes[b] * R + i - b * R];
    }
  };

  // The period taps at step t (excitation.h), added to the embedded inputs: a warp per stream, lanes over
  // the keys, the sums in double. Rank 0 keeps the history in device memory; the taps read inputs at
  // least one step old (kMinTapBack), written before that step's cluster barriers, so every CTA reads the
  // same bits.
  auto add_period_taps = [&](uint64_t t) {
    const long long frame = block_first_frame(t, s.cond_hop) - block_first_frame(args.t0, s.cond_hop);
    const int mask = s.history_mask;
    for (int b = warp; b < B; b += warps) {
      float* history = args.history + static_cast<long long>(first_stream + b) * (mask + 1);
      if (rank == 0 && lane == 0) history[t & mask] = companded(codes[b], Q);
      const float* roll = args.cond + static_cast<long long>(first_stream + b) * C * args.frames + frame;
      double sum = 0.0;
      int held = 0;
      for (int key = lane; key < kExcitationKeys; key += 32) {
        if (roll[static_cast<long long>(key) * args.frames] != 0.0f && args.key_back[key] >= kMinTapBack) {
          const long long base = static_cast<long long>(t) - args.key_back[key];
          const double frac = args.key_frac[key];
          sum += (1.0 - frac) * __ldcg(history + (base & mask)) + frac * __ldcg(history + ((base + 1) & mask));
          ++held;
        }
      }
      for (int offset = 16; offset > 0; offset >>= 1) {
        sum += __shfl_xor_sync(0xffffffffu, sum, offset);
        held += __shfl_xor_sync(0xffffffffu, held, offset);
      }
      if (lane == 0) excite[b] = held ? static_cast<float>(sum / held) : 0.0f;
    }
    __syncthreads();
    for (int i = tid; i < B * R; i += kThreads) {
      const int b = s.by_residual.div(i);
      x[i] += args.excite[i - b * R] * excite[b];
    }
  };

  if (args.prime) {
    set_frame_biases(args.t0, false);
    embed_codes();  // the silence code
    __syncthreads();
    for (int l = 0; l < s.layers; ++l) run_layer(l, true);
    if (args.history && rank == 0) {  // the period taps' history holds the silence too
      const int length = s.history_mask + 1;
      for (int i = tid; i < B * length; i += kThreads)
        args.history[static_cast<long long>(first_stream) * length + i] = companded(codes[i / length], Q);
    }
    cluster_barrier();  // the last layer's ring and the history are filled before any CTA reads them
  }

  for (int step = 0; step < args.n; ++step) {
    const uint64_t t = args.t0 + step;
    if (step == 0 || t % s.cond_hop == 0) {
      set_frame_biases(t, C > 0);
      if (args.sleep_after_frames && !args.forced) count_quiet_frames(t);  // read by the same warps
    }
    if (args.forced) {
      for (int b = tid; b < B; b += kThreads)
        codes[b] = args.forced[static_cast<long long>(first_stream + b) * args.n + step];
      __syncthreads();
    }
    embed_codes();
    if (args.excite) add_period_taps(t);  // its __syncthreads also orders embed_codes' writes of x
    for (int i = tid; i < s.layers * taps * B * R; i += kThreads) {  // every layer's past inputs, at once
      const int i_r = s.by_residual.div(i), o = i - i_r * R;
      const int i_rb = s.by_batch.div(i_r), b = i_r - i_rb * B;
      const int l = s.by_taps.div(i_rb), m1 = i_rb - l * taps;
      const int rows = s.ring_rows[l], back = (m1 + 1) * s.dilation[l];  // < rows: never this sample's slot
      const int now = ring_pos[l], row = now >= back ? now - back : now - back + rows;
      // L2, not L1: another CTA of the cluster wrote it (ordered by the cluster barriers in between).
      past_x[i] = __ldcg(args.rings + (first_stream + b) * s.ring_stride + s.ring_offset[l] +
                            static_cast<long long>(row) * R + o);
    }
    if (!kDeferredSkip) {
      for (int i = tid; i < B * S; i += kThreads) skip_acc[i] = 0.0f;
    }
    __syncthreads();
    for (int l = 0; l < s.layers; ++l) run_layer(l, false);

    // Skip sum across the cluster, then the head: head1 rows split over the CTAs, head2 partial sums
    // swapped like the residual's.
    for (int i = tid; i < B * S; i += kThreads) {
      share_partial(xchg_skip, B * S, i, kDeferredSkip ? deferred_skip(i) : skip_acc[i], rank, n_cta);
    }
    cluster_barrier();
    for (int i = tid; i < B * S; i += kThreads) {
      hid[i] = fmaxf(sum_partials(xchg_skip, B * S, i, n_cta, args.skip_bias[s.by_skip.mod(i)]), 0.0f);
    }
    __syncthreads();
    const W* head1 = w + sl.head1;
    for (int item = warp; item < B * sn; item += warps) {
      const int b = s.by_sn.div(item), j = item - b * sn, row = rank * sn + j;
      float acc = 0.0f;
      for (int i = lane; i < S; i += 32)
        acc += load(head1 + static_cast<long long>(j) * S + i) * hid[b * S + i];
      acc = warp_sum(acc);
      if (lane == 0) h1[item] = row < S ? fmaxf(acc + args.head1_bias[row], 0.0f) : 0.0f;
    }
    __syncthreads();
    const W* head2 = w + sl.head2;
    for (int i = tid; i < B * Q; i += kThreads) {
      const int b = s.by_classes.div(i), q = i - b * Q;
      float acc = 0.0f;
      for (int j = 0; j < sn; ++j) acc += load(head2 + static_cast<long long>(j) * Q + q) * h1[b * sn + j];
      share_partial(xchg_logits, B * Q, i, acc, rank, n_cta);
    }
    cluster_barrier();
    for (int i = tid; i < B * Q; i += kThreads) {
      logits[i] = sum_partials(xchg_logits, B * Q, i, n_cta, args.head2_bias[s.by_classes.mod(i)]);
    }
    __syncthreads();

    if (args.forced) {
      if (rank == 0) {
        for (int i = tid; i < B * Q; i += kThreads) {
          const int b = s.by_classes.div(i), stream = first_stream + b;
          if (stream < s.streams)
            args.logits_out[(static_cast<long long>(stream) * Q + i - b * Q) * args.n + step] = logits[i];
        }
      }
    } else {
      // Every CTA samples the same logits with the same uniform: the same class, no broadcast needed.
      for (int b = warp; b < B; b += warps) {
        const int stream = first_stream + b;
        const float u = sampling_uniform(args.seed, static_cast<uint32_t>(stream), t);
        const bool asleep = is_asleep(quiet[b], args.sleep_after_frames);
        const int drawn = asleep ? args.silence_code
                                 : sample_warp(logits + b * Q, weights + b * Q, prefix + b * Q, Q,
                                               args.temperatures[stream], u);
        if (lane == 0) {
          int code = args.silence_code;
          if (asleep) {
            dc_blockers[b] = dc_blocker_at_rest(args.decode, args.silence_code);
          } else {
            code = fed_back_class(drawn, args.dc_blocker, args.decode, args.edges, Q, &dc_blockers[b]);
          }
          codes[b] = code;
          if (rank == 0 && stream < s.streams)
            args.audio[static_cast<long long>(stream) * args.n + step] = asleep ? 0.0f : args.decode[code];
        }
      }
    }
    // Every read of ring_pos for this sample (the gather, the ring owners' writes) came before the head's
    // barriers above.
    for (int l = tid; l < s.layers; l += kThreads) {
      if (s.ring_rows[l]) ring_pos[l] = ring_pos[l] + 1 == s.ring_rows[l] ? 0 : ring_pos[l] + 1;
    }
    __syncthreads();
  }
  if (rank == 0) {
    for (int b = tid; b < B; b += kThreads) {
      args.codes[first_stream + b] = codes[b];
      args.quiet_frames[first_stream + b] = quiet[b];
      args.dc_blockers[first_stream + b] = dc_blockers[b];
    }
  }
  // No CTA may exit while a peer can still write into its shared memory.
  cluster_barrier();
}

}  // namespace wavenet_rt::cuda
