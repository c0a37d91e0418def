// The live synth: a generator thread places timestamped MIDI on model samples and plays it through the
// performer (performer.h: conditioner, voices, engine, mix) in small blocks, resamples to the device rate
// and keeps a lock-free ring filled to a target depth, never more; the audio callback (a plain C function
// PortAudio calls, no Python) copies from the ring and counts underruns. wavenet_rt/live/stream.py opens
// the device and hands PortAudio the callback.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/engine.h"
#include "live/performer.h"
#include "live/resampler.h"
#include "live/ring_buffer.h"

namespace wavenet_rt {

// PortAudio's PaStreamCallbackTimeInfo, declared here so the extension needs no PortAudio headers.
struct PaTimeInfo {
  double input_buffer_adc_time;
  double current_time;
  double output_buffer_dac_time;
};

// PortAudio's PaStreamCallback: interleaved float32 output, userdata = the Synth. Returns 0 (continue).
extern "C" int synth_audio_callback(const void* input, void* output, unsigned long frames, const PaTimeInfo* time,
                                    unsigned long status_flags, void* userdata);

struct SynthOptions {
  int device_rate = 48000;
  int device_channels = 2;
  int target_frames = 256;   // device frames kept queued ahead of the callback (at least 1.5 periods)
  int slack_frames = 0;      // beyond one period, up to two more but at most this many (Synth::target_frames())
  int block = 4;             // model samples per engine call at least (small: the scheduling margin is one block)
  int max_block = 32;        // and at most: a ring short by more is refilled in fewer, larger calls
  float temperature = 1.0f;  // with the mod wheel (CC1) at rest; full wheel doubles it
  float gain = 1.0f;         // the model's level trim on the voices' sum (PerformerOptions::gain)
  float strike_scale = 1.0f;   // a voice's temperature over its strike (PerformerOptions::strike_scale)
  float sustain_scale = 1.0f;  // a voice's temperature after its attack (PerformerOptions::sustain_scale)
  std::vector<float> velocity_curve_db;  // each voice's trim by velocity (PerformerOptions::velocity_curve_db)
  int32_t global_id = 0;
  uint64_t seed = 0;
  bool record = false;       // keep what is played for read_recording() (--out)
  int max_period = 8192;     // the most frames one callback may ask for
  int voices = 0;            // 0: the engine's one stream hears every key; N: N voices, one stream each
  int prefill_frames = 1024; // queued by start() (at least target_frames): a device's period is unknown until it calls
};

// A callback only copies from the ring (microseconds); one that needs this much CPU time counts as slow.
constexpr double kSlowCallbackCpuSeconds = 1e-3;
// An underrun this close to a device xrun (the audio server itself missed a cycle: every client's
// threads, the generator's included, were held up) is counted apart from the generator's own, before the
// xrun's flag as well as after: PortAudio hears of a JACK xrun from JACK's notification thread, so the
// flag comes a callback or more after the late cycle and the cycles run back to back to catch it up.
constexpr int64_t kXrunShadowNs = 50'000'000;

struct SynthCounters {
  int64_t callbacks, frames_delivered, underruns, underrun_frames, overruns, device_xruns, ring_frames;
  int64_t underruns_near_device_xrun;  // within kXrunShadowNs of a callback that reported a device xrun
  int64_t target_frames, period_frames;
  int64_t first_callback_ns, last_callback_ns;  // CLOCK_MONOTONIC
  int64_t blocks;
  double block_seconds_last, block_seconds_max, block_seconds_total, block_audio_seconds;
  double callback_seconds_max;      // the audio callback's longest run, entry to return, wall clock
  double callback_cpu_seconds_max;  // the same in the thread's CPU time (host preemption left out)
  int64_t slow_callbacks;           // callbacks that took over kSlowCallbackCpuSeconds of the thread's CPU
  int64_t midi_events, midi_ignored, midi_late, midi_dropped, active_keys, record_dropped;
  float temperature;
  int32_t global_id;
  std::string error;  // why the generator stopped, if it did
};

class Synth {
 public:
  // The engine must have one stream per voice (one when voices is 0) and belong to the synth while it
  // runs; `features` names the model's conditioning feature set (its config's cond_features; ignored
  // for an unconditional model, which takes no voices).
  Synth(std::shared_ptr<Engine> engine, const std::string& features, const SynthOptions& options);
  ~Synth();
  Synth(const Synth&) = delete;
  Synth& operator=(const Synth&) = delete;

  void start();  // resets the engine, fills the ring, starts the generator thread
  void stop();   // joins the generator (and the null output, if any)
  // Stands in for an audio device: calls the audio callback every `period` frames in real time.
  void start_null_output(int period);

  // From one MIDI input thread at a time (the bindings hold the GIL): raw bytes that arrived at time_ns
  // (CLOCK_MONOTONIC). Never blocks. start() and stop() are for one controlling thread.
  bool push_midi(const uint8_t* bytes, int length, int64_t time_ns);
  // From the thread that calls audio_callback (a plugin's run()), instead of push_midi: an event at output
  // frame `frame` (counted from start(), the frames the callback was asked for) is heard exactly
  // frame_latency() frames later, never late, whatever the blocks, and after an underrun too. Never blocks.
  bool push_midi_at_frame(const uint8_t* bytes, int length, int64_t frame);
  // The constant delay of push_midi_at_frame, in output frames: the ring's depth, a block, and the
  // resampler's delay (which any ring-less use of the resampler has too).
  int64_t frame_latency() const;
  // A period of `frames` is coming: the ring is kept that much deeper from now on (audio_callback notes it
  // too, after the fact). Real-time safe.
  void note_period(int64_t frames);
  // For a host that is not running in real time (a plugin host's freewheeling export): waits until the ring
  // holds `frames` (at most max_period) or the generator stops. Sleeps: never from a real-time thread.
  void await_frames(int64_t frames);
  // The base temperature from the generator's next block on (the mod wheel still raises it). Real-time safe.
  void set_temperature(float temperature) { base_temperature_.store(temperature, std::memory_order_relaxed); }
  // Cheap reads for a meter (no lock, unlike counters()): underruns so far, and the generator's busy
  // seconds (engine calls, wall clock) against the model audio seconds they made.
  int64_t underruns() const { return underruns_.load(std::memory_order_relaxed); }
  double busy_seconds() const { return block_seconds_total_.load(std::memory_order_relaxed); }
  double generated_seconds() const;
  // The consumer side of the recording tap (--out): what the callback played, silence included.
  size_t read_recording(float* out, size_t max_frames);

  SynthCounters counters() const;
  // Arrival of a MIDI event to its first sample leaving the synth: target depth + resampler delay; the
  // device's own latency, MIDI transport and the conditioning frame (up to one hop) come on top.
  double latency_seconds() const;
  int audio_callback(void* output, unsigned long frames, unsigned long status_flags);

 private:
  struct MidiEvent {
    int64_t time;  // CLOCK_MONOTONIC ns (push_midi), or the output frame it is heard at (push_midi_at_frame)
    uint8_t bytes[3];
    int8_t length;  // -1: longer than 3 bytes (sysex), ignored and counted
    bool at_frame;
  };
  bool push_event(const uint8_t* bytes, int length, int64_t time, bool at_frame);
  void generator_loop();
  void generate_block(int64_t shortfall);
  void handle(const MidiEvent& e);
  int64_t model_sample_for(int64_t time_ns) const;
  int64_t placement_frames() const;
  int64_t target_frames() const;
  void null_output_loop(int period);

  std::shared_ptr<Engine> engine_;
  SynthOptions options_;
  Performer performer_;
  Resampler resampler_;
  RingBuffer<float> ring_;
  RingBuffer<float> recording_;
  RingBuffer<MidiEvent> midi_;
  // Generator-thread scratch, allocated here.
  std::vector<float> model_audio_, device_audio_;
  std::vector<float> callback_scratch_;

  std::thread generator_, null_output_;
  std::atomic<bool> running_{false};
  std::atomic<bool> generator_done_{true};  // the generator thread has left its loop (stopped or failed)
  std::atomic<uint32_t> callback_epoch_{0};  // bumped by every callback: wakes the generator
  // The callback's clock (a seqlock): ring read position and the time it was taken.
  std::atomic<uint32_t> clock_seq_{0};
  std::atomic<int64_t> clock_read_{0}, clock_ns_{0};

  std::atomic<int64_t> callbacks_{0}, frames_delivered_{0}, underruns_{0}, underrun_frames_{0}, overruns_{0};
  std::atomic<int64_t> device_xruns_{0}, blocks_{0}, generated_samples_{0}, midi_events_{0}, midi_late_{0};
  std::atomic<int64_t> midi_dropped_{0}, active_keys_{0}, record_dropped_{0}, cond_ignored_{0};  // cond_: the performer's
  std::atomic<int64_t> period_seen_{0};  // the most frames one callback has asked for
  std::atomic<int64_t> underruns_near_xrun_{0};
  // The callback thread's own: when a callback last reported a device xrun, and when the last few own
  // underruns happened (0: none, or put down to an xrun since)
  int64_t last_xrun_ns_ = 0;
  bool seen_xrun_ = false;
  std::array<int64_t, 8> own_underrun_ns_{};
  size_t own_underruns_seen_ = 0;
  std::atomic<int64_t> cond_dropped_{0};
  int64_t ring_origin_ = 0;  // ring position of this run's first frame
  std::atomic<int64_t> first_callback_ns_{0};
  std::atomic<double> block_seconds_last_{0}, block_seconds_max_{0}, block_seconds_total_{0};
  std::atomic<double> callback_seconds_max_{0}, callback_cpu_seconds_max_{0};
  std::atomic<int64_t> slow_callbacks_{0};
  std::atomic<float> temperature_now_{1.0f};
  std::atomic<float> base_temperature_{1.0f};
  std::atomic<int32_t> global_id_now_{0};
  mutable std::mutex error_mutex_;  // error_ is written by the generator as it fails, read by counters()
  std::string error_;
};

}  // namespace wavenet_rt
