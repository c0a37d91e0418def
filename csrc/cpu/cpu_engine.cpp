// CpuEngine (cpu_engine.h): weight repacking, per-stream state, and the per-sample step of a batch of
// streams. The arithmetic lives in the kernels (kernels.h); this file decides what is computed when: the
// conditioning once per frame, the past taps' products ahead, the rest per sample for all awake streams at
// once, residual and skip accumulated in place.
#include "cpu/cpu_engine.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/block.h"
#include "core/block_checks.h"
#include "core/exclusive_call.h"
#include "core/feedback.h"
#include "core/sampling.h"
#include "core/sleep.h"

namespace wavenet_rt::cpu {

// Everything one stream keeps from sample to sample. Cache-line aligned: threads own different streams.
struct alignas(64) CpuEngine::StreamState {
  std::vector<FloatBuffer> rings;  // per layer: (ring_rows, Rp), row = one past layer input
  std::vector<FloatBuffer> past;   // per layer: (past_batch, 2Hp), the past taps' share of each pre-activation
  FloatBuffer biases;              // (layers, 2Hp): conv bias + global class + current frame
  FloatBuffer frame;  // (C): the current conditioning frame, gathered contiguous for the projection
  std::vector<int> held_keys;  // the period taps' keys sounding in the current frame; `held` in use
  int held = 0;
  FloatBuffer history;  // the companded inputs, a ring indexed by sample position (period taps only)
  int32_t code = 0;  // the input of the next step
  DcBlocker dc_blocker;  // what is played and heard (feedback.h), at rest while asleep
  bool primed = false;
  int quiet_frames = 0;  // frames in a row without a key (sleeping from sleep_after_frames_ on)
  int slept = 0;         // samples slept, counted up to settle_samples_
  bool skipped = false;  // the last sample was skipped: the past-tap products may be stale
  int32_t biases_gid = -1;  // the global class `biases` were set for with `frame`; -1: not set from a frame
};

// One thread's streams that compute this sample, and their per-sample vectors, row b for members[b]. Each
// row of x_skip holds a stream's residual vector then its skip sum, adjacent, so the fused residual/skip
// product of a layer accumulates into both with one pass over [x | skip].
struct alignas(64) CpuEngine::Batch {
  std::vector<int> members;     // stream indices
  std::vector<int32_t> codes;   // their inputs this sample
  FloatBuffer x_skip;           // (capacity, Rp + Sp)
  FloatBuffer gate_in, gated;   // (capacity, 2Hp), (capacity, Hp)
  FloatBuffer hidden, logits;   // (capacity, Sp), (capacity, Kp)
  // Drawing: per member its inverse temperature (0 for argmax), uniform, argmax and draw; pick_rows's scratch
  std::vector<float> inv_temperatures, uniforms;
  std::vector<int32_t> best, drawn;
  FloatBuffer pick_scratch;  // (kPickRows, Kp)
};

struct CpuEngine::Job {
  int n;             // samples (steps) in this block
  const float* cond;  // (streams, C, frames)
  int frames;
  const int32_t* global_ids;
  const float* temperatures;
  float* audio;          // (streams, n)
  const int32_t* codes;  // teacher forcing (logits()) instead of sampling: (streams, n)
  float* logits_out;     // (streams, classes, n)
  CpuEngine* engine;
};

namespace {

// Past-tap products are computed this many samples ahead at most: the inputs a tap reads `dilation`
// samples back are known that far ahead, and each weight is then read once per batch, not per sample.
constexpr int kPastBatch = 16;

// A block's computing streams per thread: fewer streams stay on the calling thread. A second thread adds
// little to four batched voices (shipped model, fp16: 4.96x real time on one thread, 6.15x on two) and
// makes the live generator wait for a worker that the scheduler may run late; eight gain 45 %.
constexpr int kStreamsPerThread = 4;

const Kernels& choose_kernels(const std::string& simd) {
  if (simd == "auto") return best_kernels();
  if (simd == "portable") return portable_kernels();
  const Kernels* chosen = simd == "avx2" ? avx2_kernels() : simd == "avx512" ? avx512_kernels() : nullptr;
  if (simd != "avx2" && simd != "avx512") {
    throw std::invalid_argument("simd must be 'auto', 'avx512', 'avx2' or 'portable', got '" + simd + "'");
  }
  if (chosen == nullptr) throw std::invalid_argument("simd='" + simd + "' asked for, but this build or CPU lacks it");
  return *chosen;
}

int thread_count(const EngineOptions& options) {
  if (options.threads < 0) throw std::invalid_argument("threads must be >= 0");
  if (options.threads > 0) return std::min(options.threads, options.streams);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::min(options.streams, cores);
}

// (rows, cols) PyTorch matrix with row stride `stride` -> input-major (cols, out_stride) at column offset.
void pack_transposed(const float* src, int rows, int cols, int stride, float* dst, int out_stride, int offset) {
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) dst[static_cast<long>(c) * out_stride + offset + r] = src[r * stride + c];
  }
}

// Gate rows of a (G, ...) PyTorch tensor go to [filter half padded to Hp | gate half padded to Hp].
int gate_row(int row, int half, int hp) { return row < half ? row : hp + (row - half); }

}  // namespace

CpuEngine::CpuEngine(const HostWeights& weights, const EngineOptions& options)
    : config_(weights.config),
      kernels_(choose_kernels(options.simd)),
      precision_(parse_precision(options.precision)),
      streams_(options.streams),
      sleep_after_frames_(weights.config.cond_channels ? options.sleep_after_frames : 0),  // no keys: no sleep
      pool_(thread_count(options)) {
  config_.validate();
  if (streams_ < 1) throw std::invalid_argument("streams must be >= 1");
  if (static_cast<int>(weights.layers.size()) != config_.layers()) {
    throw std::invalid_argument("weights hold a different number of layers than the config");
  }
  pack(weights);
  // Fed the silence code with no key for this long, every ring row, past-tap product and history slot
  // holds the one value that input keeps producing: two receptive fields (each layer's inputs settle
  // within one, its ring then fills within another), a past-tap batch and the period taps' history.
  int receptive_field = 1;
  for (const PackedLayer& layer : layers_) receptive_field += layer.ring_rows;
  settle_samples_ = 2 * receptive_field + kPastBatch + (config_.excitation ? history_mask_ + 1 : 0);
  const int layers = config_.layers();
  states_.resize(streams_);
  for (StreamState& s : states_) {
    for (const PackedLayer& layer : layers_) {
      s.rings.emplace_back(static_cast<size_t>(layer.ring_rows) * rp_);
      s.past.emplace_back(static_cast<size_t>(layer.past_batch) * 2 * hp_);
    }
    s.biases = FloatBuffer(static_cast<size_t>(layers) * 2 * hp_);
    s.frame = FloatBuffer(std::max(1, config_.cond_channels));
    s.held_keys.resize(kExcitationKeys);
    if (config_.excitation) s.history = FloatBuffer(history_mask_ + 1);
  }
  // A block with few computing streams runs on one thread, which then takes every stream (deal_streams).
  const size_t capacity = streams_;
  batches_.resize(pool_.threads());
  for (Batch& b : batches_) {
    b.members.resize(capacity);
    b.codes.resize(capacity);
    b.x_skip = FloatBuffer(capacity * (rp_ + sp_));
    b.gate_in = FloatBuffer(capacity * 2 * hp_);
    b.gated = FloatBuffer(capacity * hp_);
    b.hidden = FloatBuffer(capacity * sp_);
    b.logits = FloatBuffer(capacity * kp_);
    for (auto* v : {&b.inv_temperatures, &b.uniforms}) v->resize(capacity);
    for (auto* v : {&b.best, &b.drawn}) v->resize(capacity);
    b.pick_scratch = FloatBuffer(static_cast<size_t>(kPickRows) * kp_);
  }
  order_.resize(streams_);
  computes_.resize(streams_);
  pos_stride_ = (layers + 15) / 16 * 16 + 16;
  ring_pos_.assign(static_cast<size_t>(pool_.threads()) * pos_stride_, 0);
  clear(0);
}

CpuEngine::~CpuEngine() = default;

std::string CpuEngine::details() const {
  const bool vnni = precision_ == Precision::int8 && kernels_.matmat_q8 == avx512_vnni_matmat_q8();
  return std::string(kernels_.name) + " kernels, " + precision_name(precision_) +
         (vnni ? " weights (VNNI), " : " weights, ") + std::to_string(pool_.threads()) + " thread(s), one per " +
         std::to_string(kStreamsPerThread) + " computing streams";
}

void CpuEngine::pack(const HostWeights& w) {
  const ModelConfig& c = config_;
  const int r = c.residual_channels, h = c.half_gate(), s = c.skip_channels, k = c.kernel_size;
  const int lanes = kernels_.lanes;
  rp_ = padded(r, lanes);
  hp_ = padded(h, lanes);
  sp_ = padded(s, lanes);
  kp_ = padded(c.classes, lanes);
  const int g2 = 2 * hp_;
  embed_ = FloatBuffer(static_cast<size_t>(c.classes) * rp_);
  for (int i = 0; i < c.classes; ++i) std::memcpy(embed_.data() + i * rp_, w.embed + i * r, r * sizeof(float));
  if (c.excitation) {
    excite_ = FloatBuffer(rp_);
    std::memcpy(excite_.data(), w.excite, r * sizeof(float));  // PyTorch (R, 1, 1)
    for (int key = 0; key < kExcitationKeys; ++key) key_taps_.push_back(period_tap(key, c.sample_rate));
    history_mask_ = period_history(c.sample_rate) - 1;
  }
  if (c.cond_channels) cond_ = FloatBuffer(static_cast<size_t>(c.cond_channels) * c.layers() * g2);
  skip_bias_ = FloatBuffer(sp_);
  for (int l = 0; l < c.layers(); ++l) {
    const LayerWeights& src = w.layers[l];
    PackedLayer layer;
    layer.dilation = c.dilations[l];
    layer.ring_rows = (k - 1) * layer.dilation;
    layer.past_batch = layer.ring_rows ? std::min(layer.dilation, kPastBatch) : 0;
    layer.has_residual = src.res_weight != nullptr;
    for (int j = 0; j < k; ++j) layer.taps.emplace_back(r, g2);
    layer.tap_sum = FloatBuffer(static_cast<size_t>(r) * g2);
    layer.conv_bias = FloatBuffer(g2);
    for (int g = 0; g < 2 * h; ++g) {
      const int row = gate_row(g, h, hp_);
      layer.conv_bias.data()[row] = src.conv_bias[g];
      for (int i = 0; i < r; ++i) {
        for (int j = 0; j < k; ++j) {
          const float v = src.conv_weight[(g * r + i) * k + j];  // PyTorch (G, R, k)
          layer.taps[j].staging()[static_cast<long>(i) * g2 + row] = v;
        }
      }
      if (src.cond_weight) {  // (G, C) -> (C, layers * 2Hp)
        for (int ch = 0; ch < c.cond_channels; ++ch) {
          cond_.data()[static_cast<long>(ch) * c.layers() * g2 + l * g2 + row] = src.cond_weight[g * c.cond_channels + ch];
        }
      }
    }
    if (c.global_classes) {
      layer.glob = FloatBuffer(static_cast<size_t>(c.global_classes) * g2);
      for (int id = 0; id < c.global_classes; ++id) {
        for (int g = 0; g < 2 * h; ++g) layer.glob.data()[id * g2 + gate_row(g, h, hp_)] = src.glob_weight[id * 2 * h + g];
      }
    }
    const int out_cols = (layer.has_residual ? rp_ : 0) + sp_;
    layer.out = WeightMatrix(h, out_cols);
    const int skip_offset = layer.has_residual ? rp_ : 0;
    if (layer.has_residual) pack_transposed(src.res_weight, r, h, h, layer.out.staging(), out_cols, 0);
    pack_transposed(src.skip_weight, s, h, h, layer.out.staging(), out_cols, skip_offset);
    for (WeightMatrix& tap : layer.taps) tap.finish(precision_);
    for (int i = 0; i < r; ++i) {  // the taps as stored: priming then settles where stepping would
      for (int o = 0; o < g2; ++o) {
        for (const WeightMatrix& tap : layer.taps) layer.tap_sum.data()[static_cast<long>(i) * g2 + o] += tap.stored(i, o);
      }
    }
    layer.out.finish(precision_);
    layer.res_bias = FloatBuffer(rp_);
    if (layer.has_residual) std::memcpy(layer.res_bias.data(), src.res_bias, r * sizeof(float));
    for (int o = 0; o < s; ++o) skip_bias_.data()[o] += src.skip_bias[o];
    layers_.push_back(std::move(layer));
  }
  head1_ = WeightMatrix(s, sp_);
  pack_transposed(w.head1_weight, s, s, s, head1_.staging(), sp_, 0);
  head1_.finish(precision_);
  head1_bias_ = FloatBuffer(sp_);
  std::memcpy(head1_bias_.data(), w.head1_bias, s * sizeof(float));
  head2_ = WeightMatrix(s, kp_);
  pack_transposed(w.head2_weight, c.classes, s, s, head2_.staging(), kp_, 0);
  // The logits' matrix stays float32 in int8 mode: rounding it alone cost the shipped model 0.1 bits per
  // sample on its test split, every other matrix together 0.004 (docs/experiments/2026-12-05-int8-logit-head.md).
  head2_.finish(precision_ == Precision::int8 ? Precision::fp32 : precision_);
  head2_bias_ = FloatBuffer(kp_);
  std::memcpy(head2_bias_.data(), w.head2_bias, c.classes * sizeof(float));
  decode_.resize(c.classes);
  for (int i = 0; i < c.classes; ++i) decode_[i] = mulaw_decode(i, c.classes);
  edges_.resize(c.classes - 1);
  for (int i = 0; i < c.classes - 1; ++i) edges_[i] = mulaw_edge(i, c.classes);
  silence_code_ = mulaw_encode(0.0f, c.classes);
}

void CpuEngine::reset(uint64_t seed) {
  ExclusiveCall exclusive(busy_);
  clear(seed);
}

void CpuEngine::clear(uint64_t seed) {
  seed_ = seed;
  t_ = 0;
  for (StreamState& s : states_) {
    for (FloatBuffer& ring : s.rings) std::memset(ring.data(), 0, ring.size() * sizeof(float));
    s.code = silence_code_;
    s.dc_blocker = dc_blocker_at_rest(decode_.data(), silence_code_);
    s.primed = false;
    s.biases_gid = -1;
    s.held = 0;
    // No key has been down since reset: asleep until one is, and settled already, since the primed state
    // is the one endless silence leaves (up to rounding: priming sums the taps' weights first).
    s.quiet_frames = quiet_frames_at_reset(sleep_after_frames_);
    s.slept = settle_samples_;
    s.skipped = true;
    if (s.history.size()) std::memset(s.history.data(), 0, s.history.size() * sizeof(float));
  }
}

void CpuEngine::set_frame_biases(StreamState& s, const float* frame, int32_t global_id, bool with_cond) const {
  const int g2 = 2 * hp_;
  for (size_t l = 0; l < layers_.size(); ++l) {
    float* bias = s.biases.data() + l * g2;
    std::memcpy(bias, layers_[l].conv_bias.data(), g2 * sizeof(float));
    if (config_.global_classes) {
      const float* row = layers_[l].glob.data() + static_cast<long>(global_id) * g2;
      for (int o = 0; o < g2; ++o) bias[o] += row[o];
    }
  }
  if (with_cond && config_.cond_channels) {
    kernels_.matvec(cond_.data(), config_.cond_channels, config_.layers() * g2, frame, s.biases.data());
  }
}

// The keys the period taps average over in this frame: its first kExcitationKeys channels are the key roll.
void CpuEngine::set_held_keys(StreamState& s, const float* frame) const {
  s.held = 0;
  for (int key = 0; key < kExcitationKeys; ++key) {
    if (frame[key] != 0.0f && key_taps_[key].back >= kMinTapBack) s.held_keys[s.held++] = key;
  }
}

// Counts the frames in a row that hold no key; frame_start: t is this frame's first sample (a frame read
// again at a block's start counts once, but wakes the stream if it now holds a key).
void CpuEngine::count_quiet_frames(StreamState& s, const float* frame, bool frame_start) const {
  bool empty = true;
  for (int c = 0; c < config_.cond_channels && empty; ++c) empty = frame[c] == 0.0f;
  s.quiet_frames = count_quiet_frame(s.quiet_frames, !empty, frame_start, sleep_after_frames_);
}

// x += the mean of the held keys' period taps at step t through its projection (in double, as the reference).
void CpuEngine::add_period_taps(const StreamState& s, uint64_t t, float* x) const {
  double sum = 0.0;
  for (int i = 0; i < s.held; ++i) {
    const PeriodTap& tap = key_taps_[s.held_keys[i]];
    sum += period_tap_value(s.history.data(), history_mask_, static_cast<long long>(t), tap.back, tap.frac);
  }
  const float e = static_cast<float>(sum / s.held);
  const float* w = excite_.data();
  for (int o = 0; o < rp_; ++o) x[o] += w[o] * e;
}

// The state after an endless silence: a constant input makes every layer's input constant, so one pass
// with all taps reading the same vector finds each layer's value, which then fills its ring.
void CpuEngine::prime_with_silence(StreamState& s, Batch& scratch) const {
  const int g2 = 2 * hp_;
  float* x = scratch.x_skip.data();
  std::memcpy(x, embed_.data() + static_cast<long>(silence_code_) * rp_, rp_ * sizeof(float));
  for (size_t l = 0; l < layers_.size(); ++l) {
    const PackedLayer& layer = layers_[l];
    for (int row = 0; row < layer.ring_rows; ++row) std::memcpy(s.rings[l].data() + row * rp_, x, rp_ * sizeof(float));
    if (!layer.has_residual) break;
    float* a = scratch.gate_in.data();
    std::memcpy(a, s.biases.data() + l * g2, g2 * sizeof(float));
    kernels_.matvec(layer.tap_sum.data(), config_.residual_channels, g2, x, a);
    kernels_.gate(a, hp_, scratch.gated.data());
    layer.out.matvec(kernels_, scratch.gated.data(), x);  // the skip part is not used
    for (int o = 0; o < rp_; ++o) x[o] += layer.res_bias.data()[o];
  }
  if (s.history.size()) std::fill_n(s.history.data(), s.history.size(), companded(silence_code_, config_.classes));
  s.primed = true;
}

// The past taps' products for the next past_batch samples of one layer: rows t + j - m * dilation of the
// ring (m = 1 .. k - 1) are all known now, because past_batch <= dilation.
void CpuEngine::precompute_past(StreamState& s, size_t l, int pos) const {
  const PackedLayer& layer = layers_[l];
  const int k = config_.kernel_size, g2 = 2 * hp_, batch = layer.past_batch;
  float* past = s.past[l].data();
  std::memset(past, 0, static_cast<size_t>(batch) * g2 * sizeof(float));
  const float* ring = s.rings[l].data();
  for (int m = 1; m < k; ++m) {  // tap k - 1 - m reads the input m * dilation samples back
    const WeightMatrix& weights = layer.taps[k - 1 - m];
    int row = pos - m * layer.dilation;
    if (row < 0) row += layer.ring_rows;
    const int first = std::min(batch, layer.ring_rows - row);  // rows up to the ring's end, then from 0
    weights.matmat(kernels_, ring + static_cast<long>(row) * rp_, rp_, first, past, g2);
    if (first < batch) weights.matmat(kernels_, ring, rp_, batch - first, past + static_cast<long>(first) * g2, g2);
  }
}

// Waking mid-batch: the past-tap products of the batch that holds t, which the skipped samples never
// computed. Every ring row holds the same value now, so the batch's start row is the only arithmetic.
void CpuEngine::refresh_past(StreamState& s, uint64_t t, const int* ring_pos) const {
  for (size_t l = 0; l < layers_.size(); ++l) {
    const PackedLayer& layer = layers_[l];
    if (!layer.ring_rows) continue;
    const int j = static_cast<int>(t % layer.past_batch);
    if (j) precompute_past(s, l, (ring_pos[l] - j + layer.ring_rows) % layer.ring_rows);
  }
  s.skipped = false;
}

// One sample at time t of the batch's first `count` streams: consumes batch.codes, leaves the next
// sample's logits in batch.logits. Per stream only what is its own (input, biases, past taps, ring); the
// products of the current input, the gate's outputs and the heads are one matrix product for all.
void CpuEngine::step(Batch& batch, int count, uint64_t t, const int* ring_pos) {
  const int k = config_.kernel_size, g2 = 2 * hp_, row = rp_ + sp_;
  float* xs = batch.x_skip.data();
  for (int b = 0; b < count; ++b) {
    StreamState& s = states_[batch.members[b]];
    float* x = xs + static_cast<long>(b) * row;
    const int32_t code = batch.codes[b];
    std::memcpy(x, embed_.data() + static_cast<long>(code) * rp_, rp_ * sizeof(float));
    if (config_.excitation) {
      s.history.data()[t & history_mask_] = companded(code, config_.classes);
      if (s.held) add_period_taps(s, t, x);
    }
    std::memcpy(x + rp_, skip_bias_.data(), sp_ * sizeof(float));
  }
  for (size_t l = 0; l < layers_.size(); ++l) {
    const PackedLayer& layer = layers_[l];
    for (int b = 0; b < count; ++b) {
      StreamState& s = states_[batch.members[b]];
      float* a = batch.gate_in.data() + static_cast<long>(b) * g2;
      const float* bias = s.biases.data() + l * g2;
      if (layer.ring_rows) {
        const int j = static_cast<int>(t % layer.past_batch);
        if (j == 0) precompute_past(s, l, ring_pos[l]);
        const float* past = s.past[l].data() + static_cast<long>(j) * g2;
        for (int o = 0; o < g2; ++o) a[o] = bias[o] + past[o];
        std::memcpy(s.rings[l].data() + static_cast<long>(ring_pos[l]) * rp_, xs + static_cast<long>(b) * row,
                    rp_ * sizeof(float));
      } else {
        std::memcpy(a, bias, g2 * sizeof(float));
      }
    }
    layer.taps[k - 1].matmat(kernels_, xs, row, count, batch.gate_in.data(), g2);  // the current inputs
    for (int b = 0; b < count; ++b) {
      kernels_.gate(batch.gate_in.data() + static_cast<long>(b) * g2, hp_,
                    batch.gated.data() + static_cast<long>(b) * hp_);
    }
    // x += res, skip += skip; the last layer has only the skip part
    layer.out.matmat(kernels_, batch.gated.data(), hp_, count, layer.has_residual ? xs : xs + rp_, row);
    if (layer.has_residual) {
      for (int b = 0; b < count; ++b) {
        float* x = xs + static_cast<long>(b) * row;
        for (int o = 0; o < rp_; ++o) x[o] += layer.res_bias.data()[o];
      }
    }
  }
  for (int b = 0; b < count; ++b) {
    kernels_.relu(xs + static_cast<long>(b) * row + rp_, sp_);
    std::memcpy(batch.hidden.data() + static_cast<long>(b) * sp_, head1_bias_.data(), sp_ * sizeof(float));
    std::memcpy(batch.logits.data() + static_cast<long>(b) * kp_, head2_bias_.data(), kp_ * sizeof(float));
  }
  head1_.matmat(kernels_, xs + rp_, row, count, batch.hidden.data(), sp_);
  kernels_.relu(batch.hidden.data(), count * sp_);
  head2_.matmat(kernels_, batch.hidden.data(), sp_, count, batch.logits.data(), kp_);
}

// The sampling contract of csrc/core/sampling.h for the batch's first `count` streams at time t, into
// batch.drawn: the picks of all rows at once from the (bit-identical) kernel, the argmax where the
// temperature asks for it.
void CpuEngine::draw(Batch& batch, int count, uint64_t t, const float* temperatures) const {
  for (int b = 0; b < count; ++b) {
    const int si = batch.members[b];
    batch.inv_temperatures[b] = temperatures[si] >= kMinTemperature ? 1.0f / temperatures[si] : 0.0f;
    batch.uniforms[b] = sampling_uniform(seed_, static_cast<uint32_t>(si), t);
  }
  kernels_.pick_rows(batch.logits.data(), kp_, count, config_.classes, batch.inv_temperatures.data(),
                     batch.uniforms.data(), batch.pick_scratch.data(), batch.best.data(), batch.drawn.data());
  for (int b = 0; b < count; ++b) {
    if (!(temperatures[batch.members[b]] >= kMinTemperature)) batch.drawn[b] = batch.best[b];
  }
}

// The class played and heard after drawing `drawn` (feedback.h).
int32_t CpuEngine::played(StreamState& s, int32_t drawn) const {
  return fed_back_class(drawn, config_.dc_blocker, decode_.data(), edges_.data(), config_.classes, &s.dc_blocker);
}

void CpuEngine::generate(int n, const float* cond, int frames, const int32_t* global_ids, const float* temperatures,
                         float* audio) {
  if (n < 0) throw std::invalid_argument("n must be >= 0");
  if (n == 0) return;
  ExclusiveCall exclusive(busy_);
  check_block_inputs(config_, streams_, cond, frames, block_frames(t_, n, config_.cond_hop), global_ids);
  deal_streams(cond, frames, false);
  Job job{n, cond, frames, global_ids, temperatures, audio, nullptr, nullptr, this};
  pool_.run(&CpuEngine::run_job, &job, active_threads_);
  t_ += n;
}

void CpuEngine::logits(const int32_t* codes, int steps, const float* cond, const int32_t* global_ids, float* out) {
  if (steps < 0) throw std::invalid_argument("steps must be >= 0");
  ExclusiveCall exclusive(busy_);
  check_codes(config_, codes, static_cast<long>(streams_) * steps);
  const int frames = block_frames(0, steps, config_.cond_hop);
  check_block_inputs(config_, streams_, cond, frames, frames, global_ids);
  clear(seed_);
  for (StreamState& s : states_) s.primed = true;  // forward()'s zero history, not silence
  deal_streams(cond, frames, true);
  Job job{steps, cond, frames, global_ids, nullptr, nullptr, codes, out, this};
  pool_.run(&CpuEngine::run_job, &job, active_threads_);
  t_ = steps;
}

void CpuEngine::run_job(void* context, int thread_index) noexcept {
  const Job& job = *static_cast<const Job*>(context);
  job.engine->run_streams(job, thread_index);
}

// Orders the streams for this block: first those that will compute (all of them when teacher forcing;
// else the ones not skipped now, and sleepers whose frames in this block hold a key, which wake), then the
// settled sleepers, and sets the threads to run on (kStreamsPerThread). Those threads take the order
// round-robin, so each gets its share of the work: the voices that sound are few and move about. A stream
// waking mid-block without a key is the one misjudged case.
void CpuEngine::deal_streams(const float* cond, int frames, bool all_compute) {
  const long per_stream = static_cast<long>(config_.cond_channels) * frames;
  int computing = 0;
  for (int si = 0; si < streams_; ++si) {
    bool computes = all_compute || !sleep_after_frames_ || !states_[si].skipped;
    for (long c = 0; c < per_stream && !computes; ++c) computes = cond[si * per_stream + c] != 0.0f;
    computes_[si] = computes;
    computing += computes;
  }
  int n = 0;
  for (int pass = 1; pass >= 0; --pass) {
    for (int si = 0; si < streams_; ++si) {
      if (computes_[si] == pass) order_[n++] = si;
    }
  }
  active_threads_ = std::clamp((computing + kStreamsPerThread - 1) / kStreamsPerThread, 1, pool_.threads());
}

// Generates (or teacher-forces) the block for this thread's streams (order_[thread], order_[thread +
// threads], ...), sample by sample; within a sample the ones that compute go through the network together.
void CpuEngine::run_streams(const Job& job, int thread) {
  const int threads = active_threads_;
  if (thread >= threads) return;  // a worker this block does not need
  Batch& batch = batches_[thread];
  const uint64_t hop = config_.cond_hop;
  const int channels = config_.cond_channels;
  int* pos = ring_pos_.data() + static_cast<long>(thread) * pos_stride_;
  for (size_t l = 0; l < layers_.size(); ++l) {
    pos[l] = layers_[l].ring_rows ? static_cast<int>(t_ % layers_[l].ring_rows) : 0;
  }
  const uint64_t first_frame = block_first_frame(t_, config_.cond_hop);
  for (int i = 0; i < job.n; ++i) {
    const uint64_t t = t_ + i;
    int count = 0;
    for (int k = thread; k < streams_; k += threads) {
      const int si = order_[k];
      StreamState& s = states_[si];
      const int32_t gid = job.global_ids ? job.global_ids[si] : 0;
      if (!s.primed) {
        set_frame_biases(s, nullptr, gid, false);
        prime_with_silence(s, batch);
        // the biases now hold this class and an empty frame, which a stream without keys keeps
        std::fill_n(s.frame.data(), s.frame.size(), 0.0f);
        s.biases_gid = gid;
      }
      if (i == 0 || t % hop == 0) {
        // The projection is redone only when the frame or the global class changed: a block that starts
        // inside a frame reads it again (the live synth's blocks are a few samples long), and a voice
        // without keys reads empty frame after empty frame.
        bool changed = gid != s.biases_gid;
        float* frame = s.frame.data();
        const long f = static_cast<long>(block_first_frame(t, hop) - first_frame);
        for (int c = 0; c < channels; ++c) {
          const float v = job.cond[(static_cast<long>(si) * channels + c) * job.frames + f];
          changed |= !(v == frame[c]);
          frame[c] = v;
        }
        if (changed) {
          set_frame_biases(s, frame, gid, channels > 0);
          s.biases_gid = gid;
          if (config_.excitation) set_held_keys(s, frame);
          s.slept = 0;  // a sleeper's settled state belongs to the old biases: it settles again
        }
        if (sleep_after_frames_ && !job.codes) count_quiet_frames(s, frame, t % hop == 0);
      }
      const bool asleep = !job.codes && is_asleep(s.quiet_frames, sleep_after_frames_);
      if (!asleep) s.slept = 0;
      if (asleep && s.slept == settle_samples_) {  // this step would leave the state as it is
        s.code = silence_code_;  // the blocker is at rest: the asleep steps that settled it left it so
        job.audio[static_cast<long>(si) * job.n + i] = 0.0f;  // silence; its code's centre is not 0
        s.skipped = true;
        continue;
      }
      if (s.skipped) refresh_past(s, t, pos);
      batch.members[count] = si;
      batch.codes[count++] = job.codes ? job.codes[static_cast<long>(si) * job.n + i] : s.code;
    }
    if (count) step(batch, count, t, pos);
    if (count && !job.codes) draw(batch, count, t, job.temperatures);
    for (int b = 0; b < count; ++b) {
      const int si = batch.members[b];
      StreamState& s = states_[si];
      const float* logits = batch.logits.data() + static_cast<long>(b) * kp_;
      const bool asleep = !job.codes && is_asleep(s.quiet_frames, sleep_after_frames_);
      if (job.codes) {
        float* out = job.logits_out + static_cast<long>(si) * config_.classes * job.n + i;
        for (int c = 0; c < config_.classes; ++c) out[static_cast<long>(c) * job.n] = logits[c];
      } else {
        s.code = asleep ? silence_code_ : played(s, batch.drawn[b]);
        if (asleep) s.dc_blocker = dc_blocker_at_rest(decode_.data(), silence_code_);
        job.audio[static_cast<long>(si) * job.n + i] = asleep ? 0.0f : decode_[s.code];
      }
      if (asleep) ++s.slept;
    }
    for (size_t l = 0; l < layers_.size(); ++l) {
      if (layers_[l].ring_rows && ++pos[l] == layers_[l].ring_rows) pos[l] = 0;
    }
  }
}

}  // namespace wavenet_rt::cpu
