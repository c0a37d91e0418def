// The CPU engine: Fast-WaveNet cached generation in float32. Per layer and stream a ring of the past
// inputs its dilated taps read; the products of the past taps computed ahead, several samples at once;
// conditioning projected once per frame. The awake streams of a thread go through each layer together,
// so each weight read serves all of them (small matrix-matrix products, residual and skip fused into one);
// streams are dealt out to worker threads by who computes; a sleeping stream is skipped once its state
// has settled. All memory is allocated in the constructor.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/engine.h"
#include "core/excitation.h"
#include "cpu/float_buffer.h"
#include "cpu/kernels.h"
#include "cpu/weight_matrix.h"
#include "cpu/worker_pool.h"

namespace wavenet_rt::cpu {

// One layer's weights, repacked input-major with padded output rows.
struct PackedLayer {
  int dilation = 1;
  int ring_rows = 0;         // (kernel_size - 1) * dilation past inputs
  int past_batch = 0;        // samples whose past-tap products are computed together (<= dilation)
  bool has_residual = true;  // false in the last layer
  std::vector<WeightMatrix> taps;  // kernel_size of (R, 2Hp): tap j reads x[t - (k - 1 - j) * d]
  FloatBuffer tap_sum;       // (R, 2Hp): all taps summed, for priming with a constant input
  FloatBuffer conv_bias;     // (2Hp): [filter half | gate half], each half padded
  FloatBuffer glob;          // (global_classes, 2Hp)
  WeightMatrix out;          // (H, Rp + Sp): [residual | skip] outputs, or (H, Sp) without residual
  FloatBuffer res_bias;      // (Rp)
};

class CpuEngine final : public Engine {
 public:
  CpuEngine(const HostWeights& weights, const EngineOptions& options);
  ~CpuEngine() override;

  std::string backend() const override { return "cpu"; }
  std::string details() const override;
  int streams() const override { return streams_; }
  const ModelConfig& config() const override { return config_; }

  void reset(uint64_t seed) override;
  void generate(int n, const float* cond, int frames, const int32_t* global_ids, const float* temperatures,
                float* audio) override;
  void logits(const int32_t* codes, int steps, const float* cond, const int32_t* global_ids,
              float* out) override;

 private:
  struct StreamState;
  struct Batch;
  struct Job;

  void pack(const HostWeights& weights);
  void clear(uint64_t seed);  // reset() without the busy check
  static void run_job(void* job, int thread_index) noexcept;
  void deal_streams(const float* cond, int frames, bool all_compute);
  void run_streams(const Job& job, int thread);
  void set_frame_biases(StreamState& s, const float* frame, int32_t global_id, bool with_cond) const;
  void set_held_keys(StreamState& s, const float* frame) const;
  void count_quiet_frames(StreamState& s, const float* frame, bool frame_start) const;
  void add_period_taps(const StreamState& s, uint64_t t, float* x) const;
  void prime_with_silence(StreamState& s, Batch& scratch) const;
  void step(Batch& batch, int count, uint64_t t, const int* ring_pos);
  void precompute_past(StreamState& s, size_t layer, int ring_pos) const;
  void refresh_past(StreamState& s, uint64_t t, const int* ring_pos) const;
  void draw(Batch& batch, int count, uint64_t t, const float* temperatures) const;
  int32_t played(StreamState& s, int32_t drawn) const;

  ModelConfig config_;
  const Kernels& kernels_;
  Precision precision_;  // weight storage
  int streams_;
  int rp_, hp_, sp_, kp_;  // padded residual, half-gate, skip, class counts
  std::vector<PackedLayer> layers_;
  FloatBuffer embed_;       // (classes, Rp)
  FloatBuffer excite_;      // (Rp): the period taps' projection; empty without them
  std::vector<PeriodTap> key_taps_;  // per key: where its period tap reads the history
  int history_mask_ = 0;    // period-tap history length - 1 (a power of two)
  FloatBuffer cond_;        // (C, layers * 2Hp): every layer's conditioning projection in one product
  FloatBuffer skip_bias_;   // (Sp): all layers' skip biases, summed
  WeightMatrix head1_, head2_;  // (S, Sp), (S, Kp)
  FloatBuffer head1_bias_, head2_bias_;
  std::vector<float> decode_;  // class -> audio
  std::vector<float> edges_;   // where each class ends (mulaw_edge), for the DC blocker
  int32_t silence_code_;
  int sleep_after_frames_;  // EngineOptions::sleep_after_frames
  int settle_samples_ = 0;  // a sleeping stream fed silence this long has a constant state: skip it

  std::vector<StreamState> states_;
  std::vector<Batch> batches_;  // per thread: the streams computing this sample, and their vectors
  std::vector<int> order_;      // streams that compute this block first; thread i takes i, i + active, ...
  int active_threads_ = 1;      // the threads this block runs on: one per kStreamsPerThread computing streams
  std::vector<char> computes_;  // per stream, while dealing: does it compute in this block?
  std::vector<int> ring_pos_;  // per thread, pos_stride_ apart: each layer's ring write position
  int pos_stride_ = 0;         // a cache line apart, so threads never share one
  std::atomic<bool> busy_{false};  // one call at a time: the bindings release the GIL
  uint64_t seed_ = 0;
  uint64_t t_ = 0;  // samples consumed since reset
  WorkerPool pool_;
};

}  // namespace wavenet_rt::cpu
