// Proves that a CPU engine allocates nothing while it generates after reset(): this executable replaces
// malloc and friends with counting versions (forwarding to glibc) and runs generate() with counting on.
// Built by CMake into the package folder; tests/test_engine.py runs it. Exit code 0 = no allocation.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "engine.h"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
void count() {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* malloc(size_t n) { count(); return __libc_malloc(n); }
void* calloc(size_t n, size_t size) { count(); return __libc_calloc(n, size); }
void* realloc(void* p, size_t n) { count(); return __libc_realloc(p, n); }
void* aligned_alloc(size_t alignment, size_t n) { count(); return __libc_memalign(alignment, n); }
void* memalign(size_t alignment, size_t n) { count(); return __libc_memalign(alignment, n); }
int posix_memalign(void** out, size_t alignment, size_t n) {
  count();
  *out = __libc_memalign(alignment, n);
  return *out ? 0 : 12;  // ENOMEM
}
void free(void* p) { __libc_free(p); }
}

namespace {

struct RandomModel {
  wavenet_rt::HostWeights weights;
  std::vector<std::vector<float>> storage;
  std::mt19937 rng{1};

  const float* tensor(size_t size) {
    std::normal_distribution<float> normal(0.0f, 0.3f);
    storage.emplace_back(size);
    for (float& v : storage.back()) v = normal(rng);
    return storage.back().data();
  }

  explicit RandomModel(const wavenet_rt::ModelConfig& c) {
    storage.reserve(16 * c.layers() + 8);  // pointers into storage must stay valid
    weights.config = c;
    const size_t r = c.residual_channels, g = c.gate_channels, s = c.skip_channels, h = g / 2;
    weights.embed = tensor(c.classes * r);
    for (int l = 0; l < c.layers(); ++l) {
      wavenet_rt::LayerWeights layer;
      layer.conv_weight = tensor(g * r * c.kernel_size);
      layer.conv_bias = tensor(g);
      if (c.cond_channels) layer.cond_weight = tensor(g * c.cond_channels);
      if (c.global_classes) layer.glob_weight = tensor(c.global_classes * g);
      layer.skip_weight = tensor(s * h);
      layer.skip_bias = tensor(s);
      if (l + 1 < c.layers()) {
        layer.res_weight = tensor(r * h);
        layer.res_bias = tensor(r);
      }
      weights.layers.push_back(layer);
    }
    weights.head1_weight = tensor(s * s);
    weights.head1_bias = tensor(s);
    weights.head2_weight = tensor(c.classes * s);
    weights.head2_bias = tensor(c.classes);
  }
};

long allocations_while_generating(const std::string& simd, const std::string& precision, int streams) {
  wavenet_rt::ModelConfig config;
  config.dilations = {1, 2, 4, 8, 16, 1, 2, 4, 8, 16};
  config.kernel_size = 3;
  config.residual_channels = 12;
  config.gate_channels = 20;
  config.skip_channels = 24;
  config.classes = 64;
  config.cond_channels = 6;
  config.cond_hop = 16;
  config.global_classes = 2;
  RandomModel model(config);
  wavenet_rt::EngineOptions options;
  options.streams = streams;
  options.threads = streams;
  options.simd = simd;
  options.precision = precision;
  auto engine = wavenet_rt::make_engine("cpu", model.weights, options);
  const int block = 40;  // not a multiple of the hop: blocks start mid-frame too
  std::vector<float> cond(static_cast<size_t>(streams) * config.cond_channels * 4, 0.5f);
  std::vector<int32_t> ids(streams, 1);
  std::vector<float> temperatures(streams, 1.0f), audio(static_cast<size_t>(streams) * block);
  long total = 0;
  for (int round = 0; round < 2; ++round) {
    engine->reset(round);
    allocations.store(0);
    counting.store(true);
    uint64_t t = 0;
    for (int b = 0; b < 20; ++b, t += block) {
      const int frames = static_cast<int>((t + block - 1) / 16 - t / 16 + 1);
      engine->generate(block, cond.data(), frames, ids.data(), temperatures.data(), audio.data());
    }
    counting.store(false);
    total += allocations.load();
  }
  return total;
}

}  // namespace

int main() {
  counting.store(true);
  std::vector<int>* probe = new std::vector<int>(100);  // the counter must see this
  counting.store(false);
  delete probe;
  if (allocations.load() == 0) {
    std::puts("the allocation counter does not work: it missed an allocation");
    return 2;
  }
  int failures = 0;
  for (const std::string simd : {"portable", "auto"}) {
    for (const std::string precision : {"fp32", "fp16"}) {
      for (int streams : {1, 3}) {
        const long n = allocations_while_generating(simd, precision, streams);
        std::printf("simd=%s precision=%s streams=%d: %ld allocations while generating\n", simd.c_str(),
                    precision.c_str(), streams, n);
        failures += n != 0;
      }
    }
  }
  return failures ? 1 : 0;
}
