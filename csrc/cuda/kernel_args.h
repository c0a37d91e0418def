// What the host (cuda_engine.cu) hands the generation kernel (wavenet_kernel.cuh) per launch: the packed
// model, the per-stream state in device memory, and the block to generate. Plain C++ so both sides share
// it; every pointer is device memory.
#pragma once

#include <cstdint>

#include "core/feedback.h"
#include "cuda/fast_divide.h"

namespace wavenet_rt::cuda {

constexpr int kMaxLayers = 64;       // fixed so the layer tables travel in the kernel's parameter space
constexpr int kThreads = 256;        // threads per CTA
constexpr int kMaxClusterSize = 16;  // Hopper's non-portable maximum

// Shapes. A cluster of `cluster` CTAs shares each sample's work: CTA r owns half-gate channels
// [r * hn, (r + 1) * hn) of every layer and head1 rows [r * sn, (r + 1) * sn), zero-padded past the end.
struct KernelShape {
  int layers, kernel_size, residual, half_gate, skip, classes, cond_channels, cond_hop, global_classes;
  int history_mask;  // period taps: history length - 1 (a power of two), 0 without them
  int cluster, hn, sn;
  int batch;    // streams per cluster
  int streams;  // real streams; the last cluster may hold padding streams that write nothing
  int dilation[kMaxLayers];
  // (kernel_size - 1) * dilation + 1 past inputs per layer: the extra row is the one this sample writes,
  // so a CTA still reading the oldest input never races the ring's owner writing the newest.
  int ring_rows[kMaxLayers];
  long long ring_offset[kMaxLayers];  // floats from a stream's ring block to this layer's ring
  long long ring_stride;              // floats per stream of ring state
  long long slice_elems;              // weights per CTA slice (see slice_layout in cuda_engine.cu)
  // The per-sample loops' index arithmetic (set by set_dividers in cuda_engine.cu): flat indices split
  // into (stream, channel) and the like without runtime integer division.
  Divider by_residual, by_batch, by_taps, by_gate_rows /* 2 hn */, by_hn, by_skip, by_sn, by_classes, by_cluster;
};

// Per-CTA weight slice offsets, in elements, relative to the slice start; the same for every rank.
struct SliceLayout {
  // One layer: conv (2hn, k, R), res (hn, R), skip (hn, S); output-minor so neighbouring threads (one per
  // output) read neighbouring weights.
  long long layer_stride;
  long long conv, res, skip;  // offsets inside a layer
  long long head1;            // (sn, S): owned head1 rows
  long long head2;            // (sn, classes): head2 columns of the owned head1 rows
};

template <typename W>
struct KernelArgs {
  KernelShape shape;
  SliceLayout slice;
  const W* slices;           // (cluster, slice_elems): rank r's weights
  bool resident;             // copy the slice into shared memory at launch (when it fits)
  const float* conv_bias;    // (layers, 2H): [filter | gate]
  const float* glob;         // (layers, global_classes, 2H) or null
  const float* cond_weight;  // (layers, 2H, C) or null
  const float* res_bias;     // (layers, R), zeros in the last layer
  const float* skip_bias;    // (S): every layer's skip bias, summed
  const float* head1_bias;   // (S)
  const float* head2_bias;   // (classes)
  const float* embed;        // (classes, R)
  const float* excite;       // (R): the period taps' projection, or null (none)
  const int* key_back;       // (kExcitationKeys): where each key's period tap reads (excitation.h) ...
  const double* key_frac;    // ... and its interpolation weight
  const float* decode;       // (classes): class -> audio
  const float* edges;        // (classes - 1): where each class ends (mulaw_edge), for the DC blocker
  float dc_blocker;          // the config's DC blocker pole (feedback.h); 0: none

  float* rings;    // (padded streams, ring_stride)
  float* history;  // (padded streams, history_mask + 1): companded inputs by position, or null (no taps)
  int32_t* codes;  // (padded streams): the input of each stream's next sample
  DcBlocker* dc_blockers;  // (padded streams): each stream's DC blocker (feedback.h)
  int32_t* quiet_frames;   // (padded streams): frames in a row without a key (EngineOptions::sleep_after_frames)
  int sleep_after_frames;  // 0: streams never sleep
  int silence_code;        // what a sleeping stream plays and hears

  int n;        // samples (or teacher-forced steps) in this launch
  uint64_t t0;  // samples since reset before this launch
  uint64_t seed;
  bool prime;         // start from an endless silence first (the first launch after reset)
  const float* cond;  // (padded streams, C, frames) or null
  int frames;
  const int32_t* global_ids;  // (padded streams)
  const float* temperatures;  // (padded streams)
  const int32_t* forced;      // teacher forcing: (padded streams, n) codes, or null to sample
  float* logits_out;          // with forced: (streams, classes, n)
  float* audio;               // without forced: (streams, n)
};

}  // namespace wavenet_rt::cuda
