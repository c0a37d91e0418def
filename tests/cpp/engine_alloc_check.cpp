// Proves that the real-time path allocates nothing and takes no lock: a CPU engine's generate() after
// reset(), and the live synth's generator thread and audio callback while it plays MIDI. This executable
// replaces malloc and friends and pthread_mutex_lock with counting versions (forwarding to glibc) and runs
// them with counting on. Built by CMake into the package folder, run by the tests. Exit code 0 = pass.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <dlfcn.h>
#include <pthread.h>

#include <chrono>
#include <thread>

#include "core/engine.h"
#include "live/synth.h"

#include "alloc_counter.h"

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
    if (c.excitation) weights.excite = tensor(r);
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

// The synth plays MIDI for a while with this thread as its audio device: the generator thread and the
// callback must neither allocate nor lock, with one stream or with voices (keys struck, freed, taken).
long synth_events_while_playing(int voices, long* lock_count) {
  wavenet_rt::ModelConfig config;
  config.dilations = {1, 2, 4, 8, 1, 2, 4, 8};
  config.residual_channels = 8;
  config.gate_channels = 16;
  config.skip_channels = 16;
  config.classes = 256;
  config.cond_channels = 176;
  config.cond_hop = 16;
  config.excitation = true;  // the period taps run on the generator thread too
  RandomModel model(config);
  wavenet_rt::EngineOptions engine_options;
  engine_options.streams = voices > 0 ? voices : 1;
  engine_options.sleep_after_frames = 1;  // voices without a key sleep (and wake) on the generator thread too
  auto engine = wavenet_rt::make_engine("cpu", model.weights, engine_options);
  wavenet_rt::SynthOptions options;
  options.target_frames = 256;
  options.record = true;
  options.voices = voices;
  wavenet_rt::Synth synth(std::shared_ptr<wavenet_rt::Engine>(std::move(engine)), "roll88_onset88", options);
  synth.start();
  std::vector<float> out(128 * 2), recorded(4096);
  allocations.store(0);
  locks.store(0);
  counting.store(true);
  for (int period = 0; period < 400; ++period) {
    if (period % 10 == 0) {
      const uint8_t note_on[3] = {0x90, static_cast<uint8_t>(40 + period % 30), 100};
      const uint8_t note_off[3] = {0x80, static_cast<uint8_t>(40 + (period + 270) % 30), 0};  // struck 90 ago
      const uint8_t pedal[3] = {0xB0, 64, static_cast<uint8_t>(period % 20 == 0 ? 127 : 0)};
      const uint8_t sysex[6] = {0xF0, 1, 2, 3, 4, 0xF7};
      const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::steady_clock::now().time_since_epoch()).count();
      synth.push_midi(note_on, 3, now);
      synth.push_midi(note_off, 3, now);
      synth.push_midi(pedal, 3, now);
      synth.push_midi(sysex, 6, now);
    }
    wavenet_rt::synth_audio_callback(nullptr, out.data(), 128, nullptr, 0, &synth);
    synth.read_recording(recorded.data(), recorded.size());
    std::this_thread::sleep_for(std::chrono::microseconds(2667));
  }
  counting.store(false);
  const auto c = synth.counters();
  synth.stop();
  std::printf("synth, %d voices: %lld callbacks, %lld blocks, %lld MIDI messages, %lld underruns\n",
              voices, static_cast<long long>(c.callbacks), static_cast<long long>(c.blocks),
              static_cast<long long>(c.midi_events), static_cast<long long>(c.underruns));
  *lock_count = locks.load();
  return allocations.load() + (c.midi_events == 160 && c.blocks > 1000 ? 0 : 1000000);  // it really ran
}

int main() {
  real_mutex_lock = reinterpret_cast<MutexLock>(dlsym(RTLD_NEXT, "pthread_mutex_lock"));
  counting.store(true);
  {
    pthread_mutex_t probe_mutex = PTHREAD_MUTEX_INITIALIZER;  // the lock counter must see this
    pthread_mutex_lock(&probe_mutex);
    pthread_mutex_unlock(&probe_mutex);
  }
  std::vector<int>* probe = new std::vector<int>(100);  // the counter must see this
  counting.store(false);
  delete probe;
  if (allocations.load() == 0 || locks.load() == 0) {
    std::puts("the counters do not work: they missed an allocation or a lock");
    return 2;
  }
  int failures = 0;
  for (const std::string simd : {"portable", "auto"}) {
    for (const std::string precision : {"fp32", "fp16", "int8"}) {
      for (int streams : {1, 3}) {
        const long n = allocations_while_generating(simd, precision, streams);
        std::printf("simd=%s precision=%s streams=%d: %ld allocations while generating\n", simd.c_str(),
                    precision.c_str(), streams, n);
        failures += n != 0;
      }
    }
  }
  for (int voices : {0, 3}) {
    long synth_locks = 0;
    const long synth_allocations = synth_events_while_playing(voices, &synth_locks);
    std::printf("synth, %d voices: %ld allocations, %ld mutex locks while playing\n", voices, synth_allocations,
                synth_locks);
    failures += synth_allocations != 0 || synth_locks != 0;
  }
  return failures ? 1 : 0;
}
