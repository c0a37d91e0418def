// What a performance plays, block by block at the model's rate: MIDI -> conditioner (frames, mod wheel,
// program) -> voices -> engine streams -> mix. The live synth (synth.cpp) and offline rendering
// (wavenet_rt/render.py through the bindings) both play through it, so live and offline agree.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/engine.h"
#include "midi/conditioner.h"

namespace wavenet_rt {

// How long a note's strike lasts (PerformerOptions::strike_scale): in whole frames, at least one.
constexpr double kStrikeSeconds = 0.010;

struct PerformerOptions {
  int voices = 0;            // 0: the engine's one stream hears every key; N: N voices, one stream each
  int block = 256;           // the most samples one generate() call makes
  float temperature = 1.0f;  // with the mod wheel at 0; the wheel raises it up to twice this
  // A voice's temperature over its note's first kStrikeSeconds (the strike) at full velocity, as a multiple
  // of the temperature, and in proportion less for softer notes (1 + (scale - 1) * velocity / 127): a
  // hotter strike reaches the ear sooner, and a soft note heated as much would play loud. 1: alike.
  float strike_scale = 1.0f;
  // A voice's temperature once its note's attack is over (its onset channels dark), as a multiple of the
  // temperature: the attack is drawn as the model learned it, the held sound with less hiss. 1: alike.
  float sustain_scale = 1.0f;
  float gain = 1.0f;         // the model's level trim: the voices' sum is multiplied by it (mix_voices)
  // Each voice's level trim by its note's velocity, in dB at kVelocityCurvePoints (midi/velocity_curve.h);
  // empty: none. Only with voices (one stream hearing every key has no one velocity).
  std::vector<float> velocity_curve_db;
  int32_t global_id = 0;     // until a program change selects another class
  int midi_capacity = 4096;  // MIDI messages that can wait for their frame without allocation
  bool fixed_capacity = true;  // real-time use: a full queue drops the newest message (counted)
};

class Performer {
 public:
  // The engine must have one stream per voice (one when voices is 0); `features` names the model's
  // feature set (ignored for a model without local conditioning). Throws std::invalid_argument.
  Performer(std::shared_ptr<Engine> engine, const std::string& features, const PerformerOptions& options);

  // Back to sample 0: the engine reset with `seed`, a fresh MIDI state. Allocates (not real-time).
  void reset(uint64_t seed);
  // Queues raw MIDI bytes that take effect at model sample `sample` (at the first frame from there on).
  void push(int64_t sample, const uint8_t* bytes, int length);
  // The next n (1 .. block) samples, voices mixed, into out (n). The temperature and global class are
  // those in force at the block's last frame; each voice samples at up to strike_scale times it over its
  // note's first kStrikeSeconds, at it while an onset channel of its frame is lit, at sustain_scale times
  // it otherwise. Real-time safe.
  void generate(int n, float* out);
  // The base temperature from the next block on (the mod wheel still raises it). Real-time safe.
  void set_temperature(float temperature) { options_.temperature = temperature; }

  const Engine& engine() const { return *engine_; }
  int block() const { return options_.block; }
  int64_t samples() const { return t_; }  // generated since reset
  float temperature() const { return temperature_; }
  int32_t global_id() const { return global_id_; }
  int sounding_keys() const { return conditioner_->sounding_keys(); }
  int64_t ignored() const { return conditioner_->ignored(); }  // MIDI it does not use or cannot parse
  int64_t dropped() const { return conditioner_->dropped(); }  // refused by a full fixed-capacity queue

 private:
  std::shared_ptr<Engine> engine_;
  PerformerOptions options_;
  std::string features_;
  int hop_, channels_, streams_;
  std::unique_ptr<Conditioner> conditioner_;
  // Where a voice's note is in a frame: what its temperature is.
  enum Phase : uint8_t { kSustain, kAttack, kStrike };
  // Each stream's phase in each of the block's frames; `carried`: column 0 is the frame emitted last time.
  void find_phases(int frames, bool carried);
  bool attack(int stream, int column, int frames) const;  // an onset channel of its frame is lit
  bool same_phases(int a, int b, int frames) const;       // every stream is in the same phase in both
  float scale(int stream, int column, int frames) const;  // its temperature's scale in its phase there
  float level(int stream, int column, int frames) const;  // velocity / 127 of its loudest key there (0: none)
  // The samples of the block's frames first .. last (columns of cond_block_) at their own temperatures.
  void generate_run(int n, int first, int last, int frames, float* out);
  // Scales each voice's n samples in voice_audio_ by its velocity trim, the run starting at column `first`.
  void trim_voices(int n, int first, int frames);

  // Scratch, allocated here: the block's frames, the last frame emitted, the frames of a run of them, the
  // voices before mixing.
  std::vector<float> cond_block_, last_frame_, run_cond_, voice_audio_;
  std::vector<int32_t> global_ids_;  // per stream: every voice plays the current global class
  std::vector<float> temperatures_;  // and its temperature, by its phase
  std::vector<uint8_t> phases_;      // (stream, column) of the block: a Phase
  std::vector<int> lit_frames_;      // per stream: its onset's frames so far, up to the last frame emitted
  int strike_frames_ = 0;            // frames of the strike at this hop and rate (0: strike_scale 1)
  // The velocity curve as a gain per velocity; per voice the trim it plays now, the one it moves to (its
  // latest note's), the step per sample and the samples left of that move.
  bool trimmed_ = false;
  std::array<float, 128> velocity_gains_{};
  std::vector<float> trim_now_, trim_target_, trim_step_;
  std::vector<int> trim_ramp_left_;
  bool phased_ = false;              // a phase's temperature differs from another's, and the model has onsets
  int64_t t_ = 0;
  float temperature_;
  int32_t global_id_;
};

}  // namespace wavenet_rt
