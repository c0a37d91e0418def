// CudaEngine: slices the weights for a cluster of CTAs (wavenet_kernel.cuh), sizes the cluster and the
// streams per cluster to the device and picks the kernel's skip path, keeps each stream's rings and next
// code in device memory, and runs generate() / logits() as launches of the generation kernel. Every buffer
// is allocated in the constructor.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/block.h"
#include "core/block_checks.h"
#include "core/exclusive_call.h"
#include "core/sampling.h"
#include "core/sleep.h"
#include "cuda/cuda_engine.h"
#include "cuda/wavenet_kernel.cuh"

namespace wavenet_rt::cuda {
namespace {

constexpr int kMaxBatch = 16;                   // streams per cluster
constexpr int kMaxBlock = 16384;                // samples per launch; longer calls are split
constexpr long long kLogitsBudget = 1LL << 24;  // floats of logits per launch (64 MB)

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("CUDA: ") + what + ": " + cudaGetErrorString(status));
}

// Device memory owned for the engine's life.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes) check(cudaMalloc(&data_, bytes), "cudaMalloc");
    if (bytes) check(cudaMemset(data_, 0, bytes), "cudaMemset");
  }
  ~DeviceBuffer() {
    if (data_) cudaFree(data_);
  }
  DeviceBuffer(DeviceBuffer&& other) noexcept : data_(other.data_), bytes_(other.bytes_) {
    other.data_ = nullptr;
  }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
    return *this;
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

template <typename T>
DeviceBuffer upload(const std::vector<T>& host) {
  DeviceBuffer buffer(host.size() * sizeof(T));
  if (!host.empty())
    check(cudaMemcpy(buffer.as<void>(), host.data(), buffer.bytes(), cudaMemcpyHostToDevice), "upload");
  return buffer;
}

enum class Precision { kFp32, kFp16, kBf16 };

Precision parse_precision(const std::string& p) {
  if (p == "fp32") return Precision::kFp32;
  if (p == "fp16") return Precision::kFp16;
  if (p == "bf16") return Precision::kBf16;
  throw std::invalid_argument("precision must be 'fp32', 'fp16' or 'bf16', got '" + p + "'");
}

size_t weight_size(Precision p) { return p == Precision::kFp32 ? 4 : 2; }

SliceLayout slice_layout(const KernelShape& s) {
  SliceLayout l{};
  l.conv = 0;
  l.res = 2LL * s.hn * s.kernel_size * s.residual;
  l.skip = l.res + static_cast<long long>(s.residual) * s.hn;
  l.layer_stride = l.skip + static_cast<long long>(s.skip) * s.hn;
  l.head1 = l.layer_stride * s.layers;
  l.head2 = l.head1 + static_cast<long long>(s.sn) * s.skip;
  return l;
}

// The kernel's index arithmetic for this shape (kernel_args.h): one divider per launch-fixed divisor.
void set_dividers(KernelShape& s) {
  auto by = [](int d) { return Divider(static_cast<uint32_t>(d > 0 ? d : 1)); };  // taps = 0: no loop runs
  s.by_residual = by(s.residual);
  s.by_batch = by(s.batch);
  s.by_taps = by(s.kernel_size - 1);
  s.by_gate_rows = by(2 * s.hn);
  s.by_hn = by(s.hn);
  s.by_skip = by(s.skip);
  s.by_sn = by(s.sn);
  s.by_classes = by(s.classes);
  s.by_cluster = by(s.cluster);
}

// The launch geometry chosen for a device: cluster size, streams per cluster, whether the weights live in
// shared memory, which skip path the kernel takes (generate_kernel's kDeferredSkip).
struct Plan {
  KernelShape shape;
  SliceLayout slice;
  bool resident = false;
  bool deferred_skip = false;
  long long smem = 0;
  int clusters = 0;         // launched
  int active_clusters = 0;  // resident at once on this device
};

template <typename W>
void* kernel_of(bool deferred_skip) {
  return deferred_skip ? reinterpret_cast<void*>(&generate_kernel<W, true>)
                       : reinterpret_cast<void*>(&generate_kernel<W, false>);
}

void* kernel_for(const Plan& plan, Precision p) {
  if (p == Precision::kFp16) return kernel_of<__half>(plan.deferred_skip);
  if (p == Precision::kBf16) return kernel_of<__nv_bfloat16>(plan.deferred_skip);
  return kernel_of<float>(plan.deferred_skip);
}

long long waves(const Plan& plan) {
  return (plan.clusters + plan.active_clusters - 1) / plan.active_clusters;
}

cudaLaunchConfig_t launch_config(const Plan& plan, cudaStream_t stream, cudaLaunchAttribute* attribute) {
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>(plan.clusters * plan.shape.cluster));
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = static_cast<size_t>(plan.smem);
  config.stream = stream;
  attribute->id = cudaLaunchAttributeClusterDimension;
  attribute->val.clusterDim.x = static_cast<unsigned>(plan.shape.cluster);
  attribute->val.clusterDim.y = 1;
  attribute->val.clusterDim.z = 1;
  config.attrs = attribute;
  config.numAttrs = plan.shape.cluster > 1 ? 1 : 0;  // no cluster attribute where clusters do not exist
  return config;
}

// Sets the kernel's attributes for this plan (they are per function, so the plan chosen last must set
// them again before its launches). False when the device refuses them.
bool prepare_kernel(const Plan& plan, Precision precision) {
  void* kernel = kernel_for(plan, precision);
  const bool ok =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(plan.smem)) == cudaSuccess &&
      (plan.shape.cluster <= 8 ||
       cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) == cudaSuccess);
  if (!ok) cudaGetLastError();
  return ok;
}

// How many clusters of this plan the device holds at once (0: it cannot run it).
int active_clusters(const Plan& plan, Precision precision, const cudaDeviceProp& prop) {
  void* kernel = kernel_for(plan, precision);
  if (!prepare_kernel(plan, precision)) return 0;
  if (plan.shape.cluster == 1) {
    int per_sm = 0;
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads,
                                                        static_cast<size_t>(plan.smem)),
          "occupancy");
    return per_sm * prop.multiProcessorCount;
  }
  cudaLaunchAttribute attribute{};
  Plan one = plan;
  one.clusters = 1;
  cudaLaunchConfig_t config = launch_config(one, nullptr, &attribute);
  int clusters = 0;
  if (cudaOccupancyMaxActiveClusters(&clusters, kernel, &config) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return clusters;
}

// The plan for `streams` streams: the largest cluster that puts every stream on the device in one wave
// (clusters run a launch's samples start to end, so a second wave doubles the launch's time), with the
// fewest streams per cluster that do, the weights in shared memory when they fit. Cluster sizes are tried
// from the largest down, each with the real occupancy of the plan (its batch and shared memory): at 128
// medium fp32 streams no batch fits clusters of 16 in one wave (the H200 profile: 64 launched, 14
// resident), so smaller cluster sizes must be tried before settling for several waves. Larger clusters
// stay preferred when several fit: a cluster barrier costs about the same at 2 to 16 CTAs
// (benchmarks/results/cluster-sync-h200-20261204.json) and more CTAs split each sample's serial chain
// finer; a smaller cluster saves remote stores and partial sums, which has not been measured to win yet.
// Without any one-wave plan: the fewest waves, the larger cluster on ties.
Plan choose_plan(KernelShape shape, int streams, Precision precision, const cudaDeviceProp& prop,
                 bool deferred_skip) {
  Plan best;
  long long best_waves = 0;
  for (int cluster = prop.major >= 9 ? kMaxClusterSize : 1; cluster >= 1; cluster /= 2) {
    shape.cluster = cluster;
    shape.hn = (shape.half_gate + cluster - 1) / cluster;
    shape.sn = (shape.skip + cluster - 1) / cluster;
    const SliceLayout slice = slice_layout(shape);
    shape.slice_elems = slice.head2 + static_cast<long long>(shape.classes) * shape.sn;
    for (int batch = 1; batch <= std::min(kMaxBatch, streams); ++batch) {
      shape.batch = batch;
      set_dividers(shape);
      for (bool resident : {true, false}) {
        Plan plan{shape, slice, resident, deferred_skip, 0, 0, 0};
        const long long weight_bytes =
            resident ? shape.slice_elems * static_cast<long long>(weight_size(precision)) : 0;
        plan.smem = smem_layout(shape, weight_bytes, deferred_skip).bytes();
        if (plan.smem > static_cast<long long>(prop.sharedMemPerBlockOptin)) continue;
        plan.active_clusters = active_clusters(plan, precision, prop);
        if (plan.active_clusters == 0) continue;
        plan.clusters = (streams + batch - 1) / batch;
        if (plan.clusters <= plan.active_clusters) return plan;  // one wave
        if (best_waves == 0 || waves(plan) < best_waves) {
          best = plan;
          best_waves = waves(plan);
        }
        break;  // a resident plan beats a non-resident one at the same batch
      }
    }
  }
  if (best_waves) return best;  // more streams than the device holds at once: the fewest waves
  throw std::invalid_argument("this model's per-sample buffers do not fit in the GPU's shared memory");
}

enum class SkipPath { kAuto, kPerLayer, kDeferred };

// WAVENET_RT_CUDA_SKIP=per_layer|deferred forces a skip path (benchmarks/gpu_bench.py times both, the
// tests compare them); unset or auto: plan_for's choice. Read when an engine is made.
SkipPath skip_path_from_environment() {
  const char* value = std::getenv("WAVENET_RT_CUDA_SKIP");
  const std::string path = value ? value : "auto";
  if (path == "auto") return SkipPath::kAuto;
  if (path == "per_layer") return SkipPath::kPerLayer;
  if (path == "deferred") return SkipPath::kDeferred;
  throw std::invalid_argument("WAVENET_RT_CUDA_SKIP must be 'auto', 'per_layer' or 'deferred', got '" + path +
                              "'");
}

// The plan and its skip path. The deferred path takes the skip products off each layer's chain (one
// stream is latency-bound: docs/experiments/2026-12-06-deferred-skip.md) but keeps every layer's z,
// layers x batch x hn floats: for medium in clusters of 16 less than the per-layer path's skip sums, in
// clusters of 1 a sixth more shared memory a stream (28.6 KB against 24.7 KB), which can cost a many-stream
// plan streams per CTA. So auto takes it only where planning with that buffer gives the same cluster size,
// streams per cluster and weight residency in no more waves; elsewhere the per-layer path.
Plan plan_for(const KernelShape& shape, int streams, Precision precision, const cudaDeviceProp& prop,
              SkipPath path) {
  if (path != SkipPath::kAuto) {
    return choose_plan(shape, streams, precision, prop, path == SkipPath::kDeferred);
  }
  const Plan per_layer = choose_plan(shape, streams, precision, prop, false);
  Plan deferred;
  try {
    deferred = choose_plan(shape, streams, precision, prop, true);
  } catch (const std::invalid_argument&) {  // only the per-layer path's buffers fit
    return per_layer;
  }
  const bool costs_nothing = deferred.shape.cluster == per_layer.shape.cluster &&
                             deferred.shape.batch == per_layer.shape.batch &&
                             deferred.resident == per_layer.resident && waves(deferred) <= waves(per_layer);
  return costs_nothing ? deferred : per_layer;
}

class CudaEngine final : public Engine {
 public:
  CudaEngine(const HostWeights& weights, const EngineOptions& options)
      : config_(weights.config),
        precision_(parse_precision(options.precision)),
        streams_(options.streams),
        sleep_after_frames_(weights.config.cond_channels ? options.sleep_after_frames : 0) {  // no keys: no sleep
    config_.validate();
    if (streams_ < 1) throw std::invalid_argument("streams must be >= 1");
    if (config_.layers() > kMaxLayers) {
      throw std::invalid_argument("the CUDA engine runs at most " + std::to_string(kMaxLayers) + " layers");
    }
    if (static_cast<int>(weights.layers.size()) != config_.layers()) {
      throw std::invalid_argument("weights hold a different number of layers than the config");
    }
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
      cudaGetLastError();
      throw std::runtime_error("backend='cuda': no CUDA device was found");
    }
    check(cudaGetDevice(&device_), "cudaGetDevice");
    check(cudaGetDeviceProperties(&prop_, device_), "cudaGetDeviceProperties");
    plan_ = plan_for(base_shape(), streams_, precision_, prop_, skip_path_from_environment());
    if (!prepare_kernel(plan_, precision_))
      throw std::runtime_error("CUDA: the chosen kernel plan was refused");
    upload_weights(weights);
    allocate_state();
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    clear(0);
  }

  ~CudaEngine() override {
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::string backend() const override { return "cuda"; }
  std::string details() const override {
    static const char* names[] = {"fp32", "fp16", "bf16"};
    const KernelShape& s = plan_.shape;
    return std::string(prop_.name) + ", clusters of " + std::to_string(s.cluster) + " CTAs x " +
           std::to_string(s.batch) + " stream(s), " + std::to_string(plan_.clusters) + " cluster(s), " +
           names[static_cast<int>(precision_)] + " weights in " + (plan_.resident ? "shared" : "device") +
           " memory, skip path " + (plan_.deferred_skip ? "deferred" : "per layer");
  }
  int streams() const override { return streams_; }
  const ModelConfig& config() const override { return config_; }

  void reset(uint64_t seed) override {
    ExclusiveCall exclusive(busy_);
    check(cudaSetDevice(device_), "cudaSetDevice");  // the calling thread may have another current device
    clear(seed);
  }

  void generate(int n, const float* cond, int frames, const int32_t* global_ids, const float* temperatures,
                float* audio) override {
    if (n < 0) throw std::invalid_argument("n must be >= 0");
    if (n == 0) return;
    ExclusiveCall exclusive(busy_);
    check(cudaSetDevice(device_), "cudaSetDevice");  // the calling thread may have another current device
    const int hop = config_.cond_hop;
    const uint64_t start = t_;
    check_block_inputs(config_, streams_, cond, frames, block_frames(t_, n, hop), global_ids);
    upload_stream_inputs(global_ids, temperatures);
    for (int done = 0; done < n;) {
      const int len = std::min(kMaxBlock, n - done);
      const int first_frame = static_cast<int>(block_first_frame(t_, hop) - block_first_frame(start, hop));
      const int chunk_frames = block_frames(t_, len, hop);
      if (cond) stage_cond(cond, frames, first_frame, chunk_frames);
      launch(len, chunk_frames, nullptr);
      check(cudaMemcpy2DAsync(audio + done, static_cast<size_t>(n) * sizeof(float), audio_.as<float>(),
                              static_cast<size_t>(len) * sizeof(float),
                              static_cast<size_t>(len) * sizeof(float), static_cast<size_t>(streams_),
                              cudaMemcpyDeviceToHost, stream_),
            "copy audio");
      check(cudaStreamSynchronize(stream_), "generate_kernel");
      done += len;
      t_ += len;
    }
  }

  void logits(const int32_t* codes, int steps, const float* cond, const int32_t* global_ids,
              float* out) override {
    if (steps < 0) throw std::invalid_argument("steps must be >= 0");
    ExclusiveCall exclusive(busy_);
    check(cudaSetDevice(device_), "cudaSetDevice");  // the calling thread may have another current device
    check_codes(config_, codes, static_cast<long>(streams_) * steps);
    const int hop = config_.cond_hop, frames = block_frames(0, steps, hop);
    check_block_inputs(config_, streams_, cond, frames, frames, global_ids);
    clear(seed_);
    primed_ = true;  // forward()'s zero history, not silence
    check(cudaMemsetAsync(rings_.as<void>(), 0, rings_.bytes(), stream_), "clear rings");
    upload_stream_inputs(global_ids, nullptr);
    for (int done = 0; done < steps;) {
      const int len = std::min(logits_chunk_, steps - done);
      const int first_frame = static_cast<int>(block_first_frame(done, hop));
      const int chunk_frames = block_frames(done, len, hop);
      if (cond) stage_cond(cond, frames, first_frame, chunk_frames);
      check(cudaMemcpy2DAsync(forced_.as<int32_t>(), static_cast<size_t>(len) * 4, codes + done,
                              static_cast<size_t>(steps) * 4, static_cast<size_t>(len) * 4,
                              static_cast<size_t>(streams_), cudaMemcpyHostToDevice, stream_),
            "copy codes");
      launch(len, chunk_frames, forced_.as<int32_t>());
      check(
          cudaMemcpy2DAsync(out + done, static_cast<size_t>(steps) * 4, logits_.as<float>(),
                            static_cast<size_t>(len) * 4, static_cast<size_t>(len) * 4,
                            static_cast<size_t>(streams_) * config_.classes, cudaMemcpyDeviceToHost, stream_),
          "copy logits");
      check(cudaStreamSynchronize(stream_), "generate_kernel (teacher-forced)");
      done += len;
      t_ += len;
    }
  }

 private:
  KernelShape base_shape() const {
    const ModelConfig& c = config_;
    KernelShape s{};
    s.layers = c.layers();
    s.kernel_size = c.kernel_size;
    s.residual = c.residual_channels;
    s.half_gate = c.half_gate();
    s.skip = c.skip_channels;
    s.classes = c.classes;
    s.cond_channels = c.cond_channels;
    s.cond_hop = c.cond_hop;
    s.global_classes = c.global_classes;
    s.history_mask = c.excitation ? period_history(c.sample_rate) - 1 : 0;
    s.streams = streams_;
    long long offset = 0;
    for (int l = 0; l < s.layers; ++l) {
      s.dilation[l] = c.dilations[l];
      s.ring_rows[l] = c.kernel_size > 1 ? (c.kernel_size - 1) * c.dilations[l] + 1 : 0;
      s.ring_offset[l] = offset;
      offset += static_cast<long long>(s.ring_rows[l]) * s.residual;
    }
    s.ring_stride = offset;
    return s;
  }

  // Rank r's slice: its gate channels' conv rows, residual and skip columns per layer, then its head1
  // rows and the matching head2 columns; zeros past the model's channel counts.
  std::vector<float> slices(const HostWeights& w) const {
    const KernelShape& s = plan_.shape;
    const SliceLayout& sl = plan_.slice;
    const int R = s.residual, H = s.half_gate, S = s.skip, K = s.kernel_size, Q = s.classes;
    std::vector<float> out(static_cast<size_t>(s.cluster) * s.slice_elems, 0.0f);
    for (int r = 0; r < s.cluster; ++r) {
      float* slice = out.data() + static_cast<size_t>(r) * s.slice_elems;
      for (int l = 0; l < s.layers; ++l) {
        const LayerWeights& lw = w.layers[l];
        float* layer = slice + l * sl.layer_stride;
        for (int j = 0; j < s.hn; ++j) {
          const int h = r * s.hn + j;
          if (h >= H) break;
          for (int half = 0; half < 2; ++half) {  // filter row h, gate row H + h
            const int g = half * H + h, row = half * s.hn + j;
            for (int i = 0; i < R; ++i) {
              for (int k = 0; k < K; ++k)
                layer[sl.conv + (static_cast<long long>(row) * K + k) * R + i] =
                    lw.conv_weight[(g * R + i) * K + k];
            }
          }
          if (lw.res_weight) {
            for (int o = 0; o < R; ++o)
              layer[sl.res + static_cast<long long>(j) * R + o] = lw.res_weight[o * H + h];
          }
          for (int o = 0; o < S; ++o)
            layer[sl.skip + static_cast<long long>(j) * S + o] = lw.skip_weight[o * H + h];
        }
      }
      for (int j = 0; j < s.sn; ++j) {
        const int row = r * s.sn + j;
        if (row >= S) break;
        for (int i = 0; i < S; ++i)
          slice[sl.head1 + static_cast<long long>(j) * S + i] = w.head1_weight[row * S + i];
        for (int q = 0; q < Q; ++q)
          slice[sl.head2 + static_cast<long long>(j) * Q + q] = w.head2_weight[q * S + row];
      }
    }
    return out;
  }

  void upload_weights(const HostWeights& w) {
    const ModelConfig& c = config_;
    const int L = c.layers(), R = c.residual_channels, G = c.gate_channels, S = c.skip_channels,
              Q = c.classes;
    const std::vector<float> packed = slices(w);
    if (precision_ == Precision::kFp32) {
      slices_ = upload(packed);
    } else if (precision_ == Precision::kFp16) {
      std::vector<__half> half(packed.size());
      for (size_t i = 0; i < packed.size(); ++i) half[i] = __float2half_rn(packed[i]);
      slices_ = upload(half);
    } else {
      std::vector<__nv_bfloat16> half(packed.size());
      for (size_t i = 0; i < packed.size(); ++i) half[i] = __float2bfloat16_rn(packed[i]);
      slices_ = upload(half);
    }
    std::vector<float> conv_bias, glob, cond, res_bias(static_cast<size_t>(L) * R, 0.0f), skip_bias(S, 0.0f);
    for (int l = 0; l < L; ++l) {
      const LayerWeights& lw = w.layers[l];
      conv_bias.insert(conv_bias.end(), lw.conv_bias, lw.conv_bias + G);
      if (c.global_classes)
        glob.insert(glob.end(), lw.glob_weight, lw.glob_weight + static_cast<long>(c.global_classes) * G);
      if (c.cond_channels)
        cond.insert(cond.end(), lw.cond_weight, lw.cond_weight + static_cast<long>(G) * c.cond_channels);
      if (lw.res_bias) std::copy(lw.res_bias, lw.res_bias + R, res_bias.begin() + static_cast<long>(l) * R);
      for (int o = 0; o < S; ++o) skip_bias[o] += lw.skip_bias[o];
    }
    std::vector<float> decode(Q), edges(Q - 1);
    for (int q = 0; q < Q; ++q) decode[q] = mulaw_decode(q, Q);
    for (int q = 0; q < Q - 1; ++q) edges[q] = mulaw_edge(q, Q);
    conv_bias_ = upload(conv_bias);
    glob_ = upload(glob);
    cond_weight_ = upload(cond);
    res_bias_ = upload(res_bias);
    skip_bias_ = upload(skip_bias);
    head1_bias_ = upload(std::vector<float>(w.head1_bias, w.head1_bias + S));
    head2_bias_ = upload(std::vector<float>(w.head2_bias, w.head2_bias + Q));
    embed_ = upload(std::vector<float>(w.embed, w.embed + static_cast<long>(Q) * R));
    if (c.excitation) {  // PyTorch (R, 1, 1)
      std::vector<int> back(kExcitationKeys);
      std::vector<double> frac(kExcitationKeys);
      for (int key = 0; key < kExcitationKeys; ++key) {
        const PeriodTap tap = period_tap(key, c.sample_rate);
        back[key] = tap.back;
        frac[key] = tap.frac;
      }
      excite_ = upload(std::vector<float>(w.excite, w.excite + R));
      key_back_ = upload(back);
      key_frac_ = upload(frac);
    }
    decode_ = upload(decode);
    edges_ = upload(edges);
    silence_code_ = mulaw_encode(0.0f, Q);
    dc_blocker_at_rest_ = dc_blocker_at_rest(decode.data(), silence_code_);
  }

  void allocate_state() {
    const KernelShape& s = plan_.shape;
    padded_streams_ = plan_.clusters * s.batch;
    const size_t padded = static_cast<size_t>(padded_streams_);
    rings_ = DeviceBuffer(padded * s.ring_stride * sizeof(float));
    history_ = DeviceBuffer(s.history_mask ? padded * (s.history_mask + 1) * sizeof(float) : 0);
    codes_ = DeviceBuffer(padded * sizeof(int32_t));
    dc_blockers_ = DeviceBuffer(padded * sizeof(DcBlocker));
    quiet_frames_ = DeviceBuffer(padded * sizeof(int32_t));
    global_ids_ = DeviceBuffer(padded * sizeof(int32_t));
    temperatures_ = DeviceBuffer(padded * sizeof(float));
    const long long per_step = static_cast<long long>(streams_) * config_.classes;
    logits_chunk_ = static_cast<int>(std::max(1LL, std::min<long long>(kMaxBlock, kLogitsBudget / per_step)));
    // The most frames a block reads: one that starts on a frame's last sample.
    const int max_frames = block_frames(config_.cond_hop - 1, kMaxBlock, config_.cond_hop);
    cond_ =
        DeviceBuffer(config_.cond_channels ? padded * config_.cond_channels * max_frames * sizeof(float) : 0);
    audio_ = DeviceBuffer(static_cast<size_t>(streams_) * kMaxBlock * sizeof(float));
    forced_ = DeviceBuffer(padded * logits_chunk_ * sizeof(int32_t));
    logits_ = DeviceBuffer(static_cast<size_t>(per_step) * logits_chunk_ * sizeof(float));
    host_ids_.assign(padded, 0);
    host_temperatures_.assign(padded, 0.0f);  // padding streams take the argmax: cheap and harmless
    host_codes_.assign(padded, 0);
    host_dc_blockers_.assign(padded, DcBlocker{});
    host_quiet_frames_.assign(padded, quiet_frames_at_reset(sleep_after_frames_));
  }

  void clear(uint64_t seed) {
    seed_ = seed;
    t_ = 0;
    primed_ = false;
    std::fill(host_codes_.begin(), host_codes_.end(), silence_code_);
    check(cudaMemcpyAsync(codes_.as<void>(), host_codes_.data(), codes_.bytes(), cudaMemcpyHostToDevice,
                          stream_),
          "reset codes");
    std::fill(host_dc_blockers_.begin(), host_dc_blockers_.end(), dc_blocker_at_rest_);
    check(cudaMemcpyAsync(dc_blockers_.as<void>(), host_dc_blockers_.data(), dc_blockers_.bytes(),
                          cudaMemcpyHostToDevice, stream_),
          "reset DC blockers");
    if (history_.bytes()) check(cudaMemsetAsync(history_.as<void>(), 0, history_.bytes(), stream_), "clear history");
    check(cudaMemcpyAsync(quiet_frames_.as<void>(), host_quiet_frames_.data(), quiet_frames_.bytes(),
                          cudaMemcpyHostToDevice, stream_),
          "reset quiet frames");  // no key has been down since reset: every stream starts asleep
    check(cudaStreamSynchronize(stream_), "reset");
  }

  // Per-stream inputs of this call, padded (padding streams: class 0, argmax).
  void upload_stream_inputs(const int32_t* global_ids, const float* temperatures) {
    for (int s = 0; s < streams_; ++s) {
      host_ids_[s] = global_ids ? global_ids[s] : 0;
      host_temperatures_[s] = temperatures ? temperatures[s] : 0.0f;
    }
    check(cudaMemcpyAsync(global_ids_.as<void>(), host_ids_.data(), global_ids_.bytes(),
                          cudaMemcpyHostToDevice, stream_),
          "copy global ids");
    check(cudaMemcpyAsync(temperatures_.as<void>(), host_temperatures_.data(), temperatures_.bytes(),
                          cudaMemcpyHostToDevice, stream_),
          "copy temperatures");
  }

  // Frames [first, first + count) of the caller's (streams, C, frames) into the staging (padded, C, count).
  void stage_cond(const float* cond, int frames, int first, int count) {
    check(cudaMemcpy2DAsync(cond_.as<float>(), static_cast<size_t>(count) * 4, cond + first,
                            static_cast<size_t>(frames) * 4, static_cast<size_t>(count) * 4,
                            static_cast<size_t>(streams_) * config_.cond_channels, cudaMemcpyHostToDevice,
                            stream_),
          "copy cond");
  }

  template <typename W>
  void launch_as(int n, int frames, const int32_t* forced) {
    KernelArgs<W> a{};
    a.shape = plan_.shape;
    a.slice = plan_.slice;
    a.slices = slices_.as<W>();
    a.resident = plan_.resident;
    a.conv_bias = conv_bias_.as<float>();
    a.glob = config_.global_classes ? glob_.as<float>() : nullptr;
    a.cond_weight = config_.cond_channels ? cond_weight_.as<float>() : nullptr;
    a.res_bias = res_bias_.as<float>();
    a.skip_bias = skip_bias_.as<float>();
    a.head1_bias = head1_bias_.as<float>();
    a.head2_bias = head2_bias_.as<float>();
    a.embed = embed_.as<float>();
    a.excite = config_.excitation ? excite_.as<float>() : nullptr;
    a.key_back = config_.excitation ? key_back_.as<int>() : nullptr;
    a.key_frac = config_.excitation ? key_frac_.as<double>() : nullptr;
    a.decode = decode_.as<float>();
    a.edges = edges_.as<float>();
    a.dc_blocker = config_.dc_blocker;
    a.dc_blockers = dc_blockers_.as<DcBlocker>();
    a.rings = rings_.as<float>();
    a.history = config_.excitation ? history_.as<float>() : nullptr;
    a.codes = codes_.as<int32_t>();
    a.quiet_frames = quiet_frames_.as<int32_t>();
    a.sleep_after_frames = sleep_after_frames_;
    a.silence_code = silence_code_;
    a.n = n;
    a.t0 = t_;
    a.seed = seed_;
    a.prime = !primed_;
    a.cond = config_.cond_channels ? cond_.as<float>() : nullptr;
    a.frames = frames;
    a.global_ids = global_ids_.as<int32_t>();
    a.temperatures = temperatures_.as<float>();
    a.forced = forced;
    a.logits_out = logits_.as<float>();
    a.audio = audio_.as<float>();
    // The attributes belong to the kernel, not to this engine: another engine may have changed them.
    if (!prepare_kernel(plan_, precision_))
      throw std::runtime_error("CUDA: the kernel's launch attributes were refused");
    cudaLaunchAttribute attribute{};
    const cudaLaunchConfig_t config = launch_config(plan_, stream_, &attribute);
    auto* kernel = plan_.deferred_skip ? &generate_kernel<W, true> : &generate_kernel<W, false>;
    check(cudaLaunchKernelEx(&config, kernel, a), "launch generate_kernel");
  }

  void launch(int n, int frames, const int32_t* forced) {
    if (precision_ == Precision::kFp16) {
      launch_as<__half>(n, frames, forced);
    } else if (precision_ == Precision::kBf16) {
      launch_as<__nv_bfloat16>(n, frames, forced);
    } else {
      launch_as<float>(n, frames, forced);
    }
    primed_ = true;
  }

  ModelConfig config_;
  Precision precision_;
  int streams_;
  int device_ = 0;
  cudaDeviceProp prop_{};
  Plan plan_;
  int padded_streams_ = 0;
  int logits_chunk_ = 1;
  int32_t silence_code_ = 0;
  int sleep_after_frames_ = 0;
  DeviceBuffer slices_, conv_bias_, glob_, cond_weight_, res_bias_, skip_bias_, head1_bias_, head2_bias_,
      embed_, excite_, key_back_, key_frac_, decode_, edges_;
  DeviceBuffer rings_, history_, codes_, dc_blockers_, quiet_frames_, global_ids_, temperatures_, cond_, audio_, forced_, logits_;
  std::vector<int32_t> host_ids_, host_codes_, host_quiet_frames_;
  std::vector<DcBlocker> host_dc_blockers_;
  DcBlocker dc_blocker_at_rest_;
  std::vector<float> host_temperatures_;
  cudaStream_t stream_ = nullptr;
  std::atomic<bool> busy_{false};
  uint64_t seed_ = 0, t_ = 0;
  bool primed_ = false;
};

}  // namespace
}  // namespace wavenet_rt::cuda

namespace wavenet_rt {

std::unique_ptr<Engine> make_cuda_engine(const HostWeights& weights, const EngineOptions& options) {
  return std::make_unique<cuda::CudaEngine>(weights, options);
}

}  // namespace wavenet_rt
