// MIDI bytes -> conditioning frames: the one implementation behind wavenet_rt/conditioning.py (training
// data from MIDI files) and the live synth's generator thread (csrc/live/synth.cpp), so features never drift.
// Frame f describes the MIDI state after every message at sample <= f * hop (no look-ahead). With voices,
// the keys are shared out to that many streams of one key each (voices.h). The MIDI controls that are not
// frames (mod wheel, program change) are read here too, at the same frame times, for the performer.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "midi/keyboard.h"
#include "midi/note_age.h"
#include "midi/voices.h"

namespace wavenet_rt {

constexpr int kMidiChannels = 16;
// How long the onset channel stays set after a note-on: long enough to cover the instrument's attack, which
// reaches -40 dBFS 2-15 ms after the key on the soundfont's piano. A time, not a frame count: at a hop of 16
// samples, 8 frames (what 32 ms was at a hop of 64) ended before many attacks, and the model started those
// notes late or never (docs/experiments/2026-12-06-onsets-in-milliseconds.md).
constexpr double kOnsetSeconds = 0.032;
constexpr int kLegacyOnsetFrames = 8;  // without a sample rate: 32 ms at 16 kHz and a hop of 64

// Frames the onset channel stays set at this hop and sample rate (at least one).
int onset_frames(int hop, int sample_rate);

// Channels of a named feature set, or -1 when the name is unknown:
// "roll88_onset88" (176), "roll88_onset88_bend" (177), "roll88_onset88_age88" (264: a clock per sounding key,
// note_age.h) and "" (0: no frames, only the MIDI controls, for a model without local conditioning).
int feature_channels(const std::string& features);

class Conditioner {
 public:
  // Throws std::invalid_argument for an unknown feature set or hop < 1. `capacity` messages can wait
  // for their frame without any allocation; beyond it the queue grows (offline use) or, with
  // `fixed_capacity` (real-time use), the newest message is dropped and counted. voices = 0: one stream
  // whose frames show every key (how training data is conditioned); N: N streams, each showing only the
  // key its voice plays (voices.h), with its own onsets. Throws for voices outside [0, 64]. programs:
  // how many program numbers select something (the model's global classes); other program changes are
  // counted as ignored. sample_rate: the model's, for how long a released voice's tail sounds
  // (release_tail_samples in voices.h) and the onset channel stays set (onset_frames; 0: no tails and
  // kLegacyOnsetFrames).
  Conditioner(const std::string& features, int hop, int capacity = 1024, bool fixed_capacity = false,
              int voices = 0, int programs = 0, int sample_rate = 0);

  int channels() const { return channels_; }
  int onset_frames() const { return onset_frames_; }
  int voices() const { return voices_.voices(); }
  int hop() const { return hop_; }
  int64_t next_frame() const { return next_frame_; }
  int64_t ignored() const { return ignored_; }  // messages it does not use or cannot parse
  int64_t dropped() const { return dropped_; }  // messages refused by a full fixed-capacity queue
  int sounding_keys() const;                     // keys held by a key or the sustain pedal
  // As of the last frame emitted: the mod wheel (CC1, 0..127, any channel, 0 before the first) and the
  // last program change below `programs` (-1 before the first).
  int mod_wheel() const { return mod_wheel_; }
  int program() const { return program_; }

  // Queues a raw MIDI message (status byte first) that happened at `sample`. A message at or before a
  // frame already emitted lands on the next frame emitted. Malformed bytes are counted, never an error.
  void push(int64_t sample, const uint8_t* bytes, int length);
  // Emits the next `count` frames into out[(s * channels + c) * stride + i] (stream s, channel c, frame i).
  void frames(int count, float* out, int stride);

 private:
  struct Message {
    int64_t sample;
    uint64_t order;
    std::array<uint8_t, 3> bytes;
    int length;
  };
  void apply(const Message& m);
  void apply_message(const Message& m);
  void note_on(int channel, int note, int velocity);
  void note_off(int channel, int note);
  void control(int channel, int number, int value);
  void sustain(int channel, bool down);
  float level(int key) const;  // velocity / 127 of the loudest channel holding the key, by key or pedal
  void fill(float* out, int stride, int first, int count);
  void fill_voices(float* out, int stride, int first, int count);
  void fill_ages(float* out, int stride, int first, int count);

  int channels_, hop_, programs_, onset_frames_;
  bool bend_channel_, age_channels_;
  bool fixed_capacity_;
  int64_t next_frame_ = 0;
  int64_t ignored_ = 0, dropped_ = 0;
  uint64_t arrivals_ = 0;
  std::vector<Message> pending_;  // sorted by (sample, arrival); consumed from the front
  size_t pending_head_ = 0;
  float held_[kMidiChannels][kKeys] = {};       // velocity / 127 of keys physically down
  float sustained_[kMidiChannels][kKeys] = {};  // released while the channel's pedal was down
  bool pedal_[kMidiChannels] = {};
  int onset_left_[kKeys] = {};
  VoiceAllocator voices_;
  std::array<int, VoiceAllocator::kMaxVoices> voice_onset_left_{};
  std::vector<NoteAge> ages_;  // one clock per stream (age channels only)
  int64_t now_ = 0;  // the sample of the message being applied
  float bend_ = 0.0f;  // the latest pitch bend, in units of the bend range
  int mod_wheel_ = 0, program_ = -1;
};

}  // namespace wavenet_rt
