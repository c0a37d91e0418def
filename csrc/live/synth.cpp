// Synth (synth.h). Timing: the callback publishes the ring's read position with the time it was read;
// a MIDI event that arrived at time w is placed at the model sample that will be heard target_frames
// after w, so every key is heard after the same delay whatever the block boundaries.
#include "live/synth.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

#include "core/futex.h"
#include "core/thread_cpu_time.h"

namespace wavenet_rt {
namespace {

constexpr unsigned long kOutputUnderflow = 0x4, kOutputOverflow = 0x8;  // PortAudio status flags
constexpr int64_t kGeneratorWakeNs = 2000000;  // the generator looks at MIDI at least this often

constexpr int kMidiQueue = 4096;    // MIDI messages in flight between the input thread and the generator
constexpr int kMidiPerWake = 256;   // handled per generator turn, so a flood cannot starve generation
constexpr int kSeqlockTries = 64;   // then the last consistent clock reading is used

const SynthOptions& checked(const SynthOptions& o) {
  if (o.device_rate < 1 || o.device_channels < 1 || o.target_frames < 1 || o.block < 1 || o.max_period < 1 ||
      o.prefill_frames < 0 || o.target_frames > (1 << 22) || o.prefill_frames > (1 << 22) || o.max_period > (1 << 20) ||
      o.slack_frames < 0 || o.slack_frames > (1 << 22) ||
      o.max_block < o.block || o.max_block > (1 << 16)) {
    throw std::invalid_argument(
        "synth options out of range (rates, channels, frames and block must be >= 1, block <= max_block)");
  }
  return o;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void atomic_max(std::atomic<double>& value, double candidate) {
  double current = value.load(std::memory_order_relaxed);
  while (candidate > current && !value.compare_exchange_weak(current, candidate, std::memory_order_relaxed)) {
  }
}

PerformerOptions performer_options(const SynthOptions& o) {
  PerformerOptions p;
  p.voices = o.voices;
  p.block = o.max_block;
  p.temperature = o.temperature;
  p.strike_scale = o.strike_scale;
  p.sustain_scale = o.sustain_scale;
  p.velocity_curve_db = o.velocity_curve_db;
  p.gain = o.gain;
  p.global_id = o.global_id;
  p.midi_capacity = kMidiQueue;
  p.fixed_capacity = true;
  return p;
}

}  // namespace

extern "C" int synth_audio_callback(const void*, void* output, unsigned long frames, const PaTimeInfo*,
                                    unsigned long status_flags, void* userdata) {
  return static_cast<Synth*>(userdata)->audio_callback(output, frames, status_flags);
}

Synth::Synth(std::shared_ptr<Engine> engine, const std::string& features, const SynthOptions& options)
    : engine_(std::move(engine)),
      options_(checked(options)),
      performer_(engine_, features, performer_options(options)),
      resampler_(engine_->config().sample_rate, options.device_rate, options.max_block),
      ring_(static_cast<size_t>(std::max({options.target_frames, options.prefill_frames, options.slack_frames})) +
            resampler_.max_output(options.max_block) + options.max_period),
      recording_(options.record ? static_cast<size_t>(options.device_rate) * 4 : 1),
      midi_(kMidiQueue) {
  model_audio_.resize(options.max_block);
  device_audio_.resize(resampler_.max_output(options.max_block));
  callback_scratch_.resize(options.max_period);
  base_temperature_.store(options.temperature, std::memory_order_relaxed);
}

Synth::~Synth() { stop(); }

double Synth::latency_seconds() const {
  return static_cast<double>(target_frames()) / options_.device_rate + resampler_.delay_seconds();
}

// The ring depth kept: the asked-for target, but never less than the device's largest period so far plus
// half a period (at least a block): a ring one period deep must be refilled whole between two callbacks, and
// the four-part chorale at 512-frame periods ran short 4, 2 and 4 times in 45 s that way, 0, 0 and 0 with 256
// frames more, alternating (docs/experiments/2026-12-05-workers-at-generator-priority.md). Beyond that, up to
// two periods more, at most slack_frames: what a callback leaves beyond the next period is what a stall may
// take, and a late server runs two cycles back to back while the generator stalls for up to ~10 ms on this VM
// (docs/experiments/2026-12-06-a-stall-allowance-of-two-periods.md). At short periods the asked-for target
// already holds far more than two periods, so the allowance deepens only long ones.
int64_t Synth::target_frames() const {
  const int64_t period = period_seen_.load(std::memory_order_relaxed);
  const int64_t beyond = std::max<int64_t>({period / 2, resampler_.max_output(options_.block),
                                                std::min<int64_t>(2 * period, options_.slack_frames)});
  return std::max<int64_t>(options_.target_frames, period + beyond);
}

// Everything a previous run left behind is reset here: with the generator joined and the callback idle
// (running_ is false, so it reads nothing), this thread may touch the generator's side of every queue.
void Synth::start() {
  stop();
  performer_.reset(options_.seed);
  resampler_.reset();
  midi_.discard();
  ring_.discard();  // the callback is idle: this thread may act as the consumer
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    error_.clear();
  }
  clock_ns_.store(0, std::memory_order_relaxed);
  clock_read_.store(0, std::memory_order_relaxed);
  ring_origin_ = static_cast<int64_t>(ring_.read_count());  // where this run's model sample 0 starts
  const int64_t prefill = std::max<int64_t>(target_frames(), options_.prefill_frames);
  while (static_cast<int64_t>(ring_.size()) < prefill) generate_block(prefill - static_cast<int64_t>(ring_.size()));
  running_.store(true, std::memory_order_release);
  generator_done_.store(false, std::memory_order_release);
  generator_ = std::thread([this] { generator_loop(); });
}

void Synth::stop() {
  running_.store(false, std::memory_order_release);
  callback_epoch_.fetch_add(1, std::memory_order_acq_rel);
  wake_all(callback_epoch_);
  if (generator_.joinable()) generator_.join();
  if (null_output_.joinable()) null_output_.join();
}

void Synth::start_null_output(int period) {
  if (period < 1 || period > options_.max_period) throw std::invalid_argument("period must be in [1, max_period]");
  if (null_output_.joinable()) throw std::logic_error("the null output is already running");
  null_output_ = std::thread([this, period] { null_output_loop(period); });
}

void Synth::null_output_loop(int period) {
  std::vector<float> out(static_cast<size_t>(period) * options_.device_channels);
  auto next = std::chrono::steady_clock::now();
  const auto step = std::chrono::nanoseconds(static_cast<int64_t>(1e9 * period / options_.device_rate));
  while (running_.load(std::memory_order_acquire)) {
    next += step;
    std::this_thread::sleep_until(next);
    // Woken more than a period late (a busy machine): restart the clock from now rather than catch up in a
    // burst, which would drain the ring faster than any device and show as the generator's underrun.
    const auto now = std::chrono::steady_clock::now();
    if (now - next > step) next = now;
    audio_callback(out.data(), period, 0);
  }
}

bool Synth::push_midi(const uint8_t* bytes, int length, int64_t time_ns) {
  return push_event(bytes, length, time_ns, false);
}

// The ring's reader stands short of the host's frame by every frame an underrun played as silence: placed on
// the host's count, each underrun would delay every later key by its length (and the host's latency
// compensation would be off by their sum); placed on the reader's, keys keep frame_latency().
bool Synth::push_midi_at_frame(const uint8_t* bytes, int length, int64_t frame) {
  const int64_t on_reader = frame - underrun_frames_.load(std::memory_order_relaxed);
  return push_event(bytes, length, on_reader + placement_frames(), true);
}

bool Synth::push_event(const uint8_t* bytes, int length, int64_t time, bool at_frame) {
  MidiEvent e{time, {0, 0, 0}, static_cast<int8_t>(length < 0 || length > 3 ? -1 : length), at_frame};
  if (e.length > 0) std::memcpy(e.bytes, bytes, e.length);
  if (midi_.write(&e, 1) == 1) return true;
  midi_dropped_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

// A frame event at F is placed this many frames later. Any block made before the generator saw the event
// was begun on a depth reading taken while the reader was at or before F, so the ring ends short of
// F + target + one block's output; the model samples made so far end within a frame of the ring's end
// (the resampler emits an output as soon as the input at its instant has arrived: its delay is a lag).
int64_t Synth::placement_frames() const { return target_frames() + resampler_.max_output(options_.block) + 1; }

int64_t Synth::frame_latency() const {
  return placement_frames() + std::lround(resampler_.delay_seconds() * options_.device_rate);
}

void Synth::note_period(int64_t frames) {
  const int64_t period = std::clamp<int64_t>(frames, 0, options_.max_period);
  if (period > period_seen_.load(std::memory_order_relaxed)) period_seen_.store(period, std::memory_order_relaxed);
}

void Synth::await_frames(int64_t frames) {
  frames = std::min<int64_t>(frames, options_.max_period);
  note_period(frames);
  while (!generator_done_.load(std::memory_order_acquire) && static_cast<int64_t>(ring_.size()) < frames) {
    callback_epoch_.fetch_add(1, std::memory_order_release);
    wake_all(callback_epoch_);
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

double Synth::generated_seconds() const {
  return static_cast<double>(generated_samples_.load(std::memory_order_relaxed)) / engine_->config().sample_rate;
}

size_t Synth::read_recording(float* out, size_t max_frames) { return recording_.read(out, max_frames); }

int Synth::audio_callback(void* output, unsigned long frames, unsigned long status_flags) {
  const int64_t entered = now_ns();
  const int64_t entered_cpu = thread_cpu_ns();
  float* out = static_cast<float*>(output);
  const int channels = options_.device_channels;
  const bool running = running_.load(std::memory_order_acquire);
  if (running && (status_flags & (kOutputUnderflow | kOutputOverflow))) {
    device_xruns_.fetch_add(1, std::memory_order_relaxed);
    last_xrun_ns_ = entered;
    seen_xrun_ = true;
    for (int64_t& at : own_underrun_ns_) {  // those just before the flag were the server's (kXrunShadowNs)
      if (at != 0 && entered - at <= kXrunShadowNs) underruns_near_xrun_.fetch_add(1, std::memory_order_relaxed);
      at = 0;
    }
  }
  unsigned long done = 0, short_frames = 0;
  while (done < frames) {
    const size_t chunk = std::min<size_t>(frames - done, callback_scratch_.size());
    float* scratch = callback_scratch_.data();
    const size_t got = running ? ring_.read(scratch, chunk) : 0;
    std::fill(scratch + got, scratch + chunk, 0.0f);  // a short ring plays silence
    for (size_t i = 0; i < chunk; ++i) {
      for (int c = 0; c < channels; ++c) out[(done + i) * channels + c] = scratch[i];
    }
    if (options_.record && running) {
      record_dropped_.fetch_add(static_cast<int64_t>(chunk - recording_.write(scratch, chunk)), std::memory_order_relaxed);
    }
    frames_delivered_.fetch_add(static_cast<int64_t>(got), std::memory_order_relaxed);
    short_frames += chunk - got;
    done += chunk;
  }
  if (!running) return 0;
  note_period(static_cast<int64_t>(frames));
  if (short_frames) {
    underruns_.fetch_add(1, std::memory_order_relaxed);
    if (seen_xrun_ && entered - last_xrun_ns_ <= kXrunShadowNs) {
      underruns_near_xrun_.fetch_add(1, std::memory_order_relaxed);
    } else {
      own_underrun_ns_[own_underruns_seen_++ % own_underrun_ns_.size()] = entered;
    }
    underrun_frames_.fetch_add(static_cast<int64_t>(short_frames), std::memory_order_relaxed);
  }
  const int64_t now = now_ns();
  if (callbacks_.fetch_add(1, std::memory_order_relaxed) == 0) first_callback_ns_.store(now, std::memory_order_relaxed);
  clock_seq_.fetch_add(1, std::memory_order_relaxed);  // odd: being written
  std::atomic_thread_fence(std::memory_order_release);  // the odd count is visible before the new values
  clock_read_.store(static_cast<int64_t>(ring_.read_count()), std::memory_order_relaxed);
  clock_ns_.store(now, std::memory_order_relaxed);
  clock_seq_.fetch_add(1, std::memory_order_release);  // even again: the values are complete
  callback_epoch_.fetch_add(1, std::memory_order_release);
  wake_all(callback_epoch_);  // the generator may refill now; a wake-up never blocks this thread
  // Its own time: a callback far inside the period cannot be what made the server miss a cycle. The count
  // over a threshold is what tests assert on; the maximum alone is one preemption on a shared VM.
  const double cpu_seconds = 1e-9 * static_cast<double>(thread_cpu_ns() - entered_cpu);
  if (cpu_seconds > kSlowCallbackCpuSeconds) slow_callbacks_.fetch_add(1, std::memory_order_relaxed);
  atomic_max(callback_cpu_seconds_max_, cpu_seconds);
  atomic_max(callback_seconds_max_, 1e-9 * static_cast<double>(now_ns() - entered));
  return 0;
}

// The model sample a MIDI event should land on: the one that will be heard `target` frames after the ring
// position being heard when it arrived, so keys are heard after a constant delay. The generator can be
// ahead of that by up to the resampler's delay plus a block; such an event lands on the next sample not yet
// generated instead (counted as late): at most ~0.75 ms of jitter, for ~0.75 ms less latency than a fixed
// margin would cost every note.
int64_t Synth::model_sample_for(int64_t time_ns) const {
  int64_t read = clock_read_.load(std::memory_order_relaxed), at = 0;
  for (int tries = 0; tries < kSeqlockTries; ++tries) {  // the writer may be preempted mid-update: bounded
    const uint32_t before = clock_seq_.load(std::memory_order_acquire);
    const int64_t r = clock_read_.load(std::memory_order_relaxed), a = clock_ns_.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (!(before & 1) && clock_seq_.load(std::memory_order_relaxed) == before) {
      read = r;
      at = a;
      break;
    }
    cpu_relax();
  }
  const int64_t generated = performer_.samples();
  if (at == 0) return generated;  // no callback yet (or no consistent reading): as soon as possible
  const double device_rate = options_.device_rate, model_rate = engine_->config().sample_rate;
  // Frames from that callback to the event: the device's part (callback to now) counts at most a period,
  // so a stalled device cannot push events into the far future; the event's own offset from now (negative
  // for a live event's age, positive for a file event sent ahead) counts in full.
  const double period = static_cast<double>(period_seen_.load(std::memory_order_relaxed));
  const int64_t now = now_ns();
  const double device_part = std::clamp((now - at) * device_rate / 1e9, 0.0, period);
  const double since = std::max(0.0, device_part + (time_ns - now) * device_rate / 1e9);
  const double heard = static_cast<double>(read - ring_origin_) + since;
  const double sample = (heard + target_frames()) * model_rate / device_rate - resampler_.delay_seconds() * model_rate;
  return std::max(generated, static_cast<int64_t>(std::ceil(sample)));
}

// An event at_frame lands where a host frame F lands in a plugin's own run(): on the first model sample at
// or after F's instant; one that comes too late for it takes the next sample not yet made (counted).
void Synth::handle(const MidiEvent& e) {
  midi_events_.fetch_add(1, std::memory_order_relaxed);
  const int64_t generated = performer_.samples();
  int64_t sample = 0;
  if (e.at_frame) {
    const int64_t due = resampler_.input_at_or_after(e.time);
    if (due < generated) midi_late_.fetch_add(1, std::memory_order_relaxed);
    sample = std::max(due, generated);
  } else {
    sample = model_sample_for(e.time);
    if (sample == generated) midi_late_.fetch_add(1, std::memory_order_relaxed);
  }
  performer_.push(sample, e.bytes, e.length < 0 ? 4 : e.length);
}

// One engine call for a ring `shortfall` frames short: the model samples that many frames take, rounded
// down to whole blocks, at least one block and at most max_block. Larger calls cost less per sample (the
// engine's hand-over to its threads and its per-call work: 8 voices of the shipped model ran 1.3x faster
// in 16-sample calls than in 4-sample ones), and a call no longer than the shortfall ends short of where
// any MIDI event not yet seen is placed, as one block does (placement_frames()).
void Synth::generate_block(int64_t shortfall) {
  const double model_per_frame = static_cast<double>(engine_->config().sample_rate) / options_.device_rate;
  const int64_t lacking = static_cast<int64_t>(static_cast<double>(shortfall) * model_per_frame);
  const int n = static_cast<int>(std::clamp<int64_t>(lacking / options_.block * options_.block, options_.block,
                                                     options_.max_block));
  const auto started = std::chrono::steady_clock::now();
  performer_.set_temperature(base_temperature_.load(std::memory_order_relaxed));
  performer_.generate(n, model_audio_.data());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const int out = resampler_.process(model_audio_.data(), n, device_audio_.data());
  overruns_.fetch_add(static_cast<int64_t>(out - ring_.write(device_audio_.data(), out)), std::memory_order_relaxed);
  blocks_.fetch_add(1, std::memory_order_relaxed);
  generated_samples_.fetch_add(n, std::memory_order_relaxed);
  block_seconds_last_.store(seconds, std::memory_order_relaxed);
  block_seconds_total_.store(block_seconds_total_.load(std::memory_order_relaxed) + seconds, std::memory_order_relaxed);
  atomic_max(block_seconds_max_, seconds);
  active_keys_.store(performer_.sounding_keys(), std::memory_order_relaxed);
  temperature_now_.store(performer_.temperature(), std::memory_order_relaxed);
  global_id_now_.store(performer_.global_id(), std::memory_order_relaxed);
}

void Synth::generator_loop() {
  sched_param param{};
  // Real-time if allowed (root, rtprio), at the lowest real-time priority: above every ordinary thread, but
  // below every audio server's and client's thread (JACK's clients run at 5 under jackd -R, at 60+ under
  // a tuned server). A block of a real model takes milliseconds; at a priority above theirs it kept the
  // audio callback from being woken on a 2-core machine (jackd logged it "Triggered": 255 xruns a minute).
  param.sched_priority = sched_get_priority_min(SCHED_FIFO);
  pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
  try {
    while (running_.load(std::memory_order_acquire)) {
      const uint32_t epoch = callback_epoch_.load(std::memory_order_acquire);
      // The depth is read before the MIDI: a block made on that reading ends short of where any frame event
      // not yet seen is placed, wherever the reader has moved since (placement_frames()).
      const int64_t shortfall = target_frames() - static_cast<int64_t>(ring_.size());
      MidiEvent e;
      for (int handled = 0; handled < kMidiPerWake && midi_.read(&e, 1) == 1; ++handled) handle(e);
      cond_ignored_.store(performer_.ignored(), std::memory_order_relaxed);
      cond_dropped_.store(performer_.dropped(), std::memory_order_relaxed);
      if (shortfall > 0) {
        generate_block(shortfall);
        continue;
      }
      wait_while_equal(callback_epoch_, epoch, 0, kGeneratorWakeNs);
    }
  } catch (const std::exception& err) {
    std::lock_guard<std::mutex> lock(error_mutex_);  // not real-time any more: the generator is stopping
    error_ = err.what();
  }
  generator_done_.store(true, std::memory_order_release);
}

SynthCounters Synth::counters() const {
  SynthCounters c;
  c.callbacks = callbacks_.load();
  c.first_callback_ns = first_callback_ns_.load();
  c.last_callback_ns = clock_ns_.load();
  c.frames_delivered = frames_delivered_.load();
  c.underruns = underruns_.load();
  c.underrun_frames = underrun_frames_.load();
  c.overruns = overruns_.load();
  c.device_xruns = device_xruns_.load();
  c.underruns_near_device_xrun = underruns_near_xrun_.load();
  c.ring_frames = static_cast<int64_t>(ring_.size());
  c.target_frames = target_frames();
  c.period_frames = period_seen_.load();
  c.blocks = blocks_.load();
  c.block_seconds_last = block_seconds_last_.load();
  c.block_seconds_max = block_seconds_max_.load();
  c.callback_seconds_max = callback_seconds_max_.load();
  c.callback_cpu_seconds_max = callback_cpu_seconds_max_.load();
  c.slow_callbacks = slow_callbacks_.load();
  c.block_seconds_total = block_seconds_total_.load();
  c.block_audio_seconds = generated_seconds();
  c.midi_events = midi_events_.load();
  c.midi_ignored = cond_ignored_.load();
  c.midi_late = midi_late_.load();
  c.midi_dropped = midi_dropped_.load() + cond_dropped_.load();
  c.active_keys = active_keys_.load();
  c.record_dropped = record_dropped_.load();
  c.temperature = temperature_now_.load();
  c.global_id = global_id_now_.load();
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    c.error = error_;
  }
  return c;
}

}  // namespace wavenet_rt
