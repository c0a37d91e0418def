// Performer (performer.h). A block's frames come from the conditioner in order; a block that starts inside
// the frame emitted last reuses it, and a block is played in runs of frames over which every voice keeps
// its phase (strike, attack or sustain), so any block size reads the same frames and draws the same samples.
#include "live/performer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/block.h"
#include "core/sampling.h"
#include "midi/velocity_curve.h"
#include "midi/voices.h"

namespace wavenet_rt {

Performer::Performer(std::shared_ptr<Engine> engine, const std::string& features,
                     const PerformerOptions& options)
    : engine_(std::move(engine)),
      options_(options),
      features_(engine_->config().cond_channels ? features : ""),
      hop_(engine_->config().cond_hop),
      channels_(engine_->config().cond_channels),
      streams_(options.voices > 0 ? options.voices : 1),
      temperature_(options.temperature),
      global_id_(options.global_id) {
  const ModelConfig& c = engine_->config();
  if (options.block < 1 || options.block > (1 << 16)) {
    throw std::invalid_argument("block must be in [1, 65536]");
  }
  if (!valid_sustain_scale(options.sustain_scale)) {
    throw std::invalid_argument("sustain_scale must be in [0, 1]");
  }
  if (!valid_strike_scale(options.strike_scale)) {
    throw std::invalid_argument("strike_scale must be in [1, " + std::to_string(static_cast<int>(kMaxStrikeScale)) + "]");
  }
  if (!valid_gain(options.gain)) {
    throw std::invalid_argument("gain must be in " + gain_range());
  }
  if (options.voices < 0 || (options.voices > 0 && !channels_)) {
    throw std::invalid_argument("voices must be >= 0, and 0 for an unconditional model");
  }
  if (!valid_velocity_curve(options.velocity_curve_db)) {
    throw std::invalid_argument("velocity_curve_db must be empty or " + std::to_string(kVelocityCurvePoints.size()) +
                                " trims within +-" + std::to_string(static_cast<int>(kMaxVelocityTrimDb)) + " dB");
  }
  if (!options.velocity_curve_db.empty() && options.voices == 0) {
    throw std::invalid_argument("a velocity curve trims voices: it needs voices > 0");
  }
  if (engine_->streams() != streams_) {
    throw std::invalid_argument("a performance plays one engine stream per voice (one without voices): "
                                "build its engine with streams=" + std::to_string(streams_));
  }
  if (c.global_classes && (options.global_id < 0 || options.global_id >= c.global_classes)) {
    throw std::invalid_argument("global_id is outside the model's global classes");
  }
  reset(0);
  if (conditioner_->channels() != channels_) {
    throw std::invalid_argument("feature set '" + features + "' does not have the model's cond_channels");
  }
  const int max_frames = block_frames(hop_ - 1, options.block, hop_);  // a block straddling the most frames
  const size_t rows = static_cast<size_t>(streams_) * channels_;
  cond_block_.resize(rows * max_frames);
  run_cond_.resize(rows * max_frames);
  last_frame_.resize(rows);
  voice_audio_.resize(static_cast<size_t>(streams_) * options.block);
  global_ids_.resize(streams_);
  temperatures_.resize(streams_);
  phases_.resize(static_cast<size_t>(streams_) * max_frames);
  lit_frames_.assign(streams_, 0);
  trimmed_ = !options.velocity_curve_db.empty();
  velocity_gains_ = velocity_gains(options.velocity_curve_db);
  const double strike = kStrikeSeconds * c.sample_rate / hop_;
  strike_frames_ = options.strike_scale == 1.0f ? 0 : std::max(1, static_cast<int>(std::lround(strike)));
  phased_ = (options.sustain_scale != 1.0f || strike_frames_ > 0) && channels_ >= 2 * kKeys;
}

void Performer::reset(uint64_t seed) {
  engine_->reset(seed);
  std::fill(lit_frames_.begin(), lit_frames_.end(), 0);
  trim_now_.assign(streams_, 1.0f);
  trim_target_.assign(streams_, 0.0f);  // no note yet: the first takes its trim at once
  trim_step_.assign(streams_, 0.0f);
  trim_ramp_left_.assign(streams_, 0);
  conditioner_ = std::make_unique<Conditioner>(features_, hop_, options_.midi_capacity,
                                               options_.fixed_capacity, options_.voices,
                                               engine_->config().global_classes, engine_->config().sample_rate);
  t_ = 0;
  temperature_ = options_.temperature;
  global_id_ = options_.global_id;
}

void Performer::push(int64_t sample, const uint8_t* bytes, int length) {
  conditioner_->push(sample, bytes, length);
}

void Performer::generate(int n, float* out) {
  if (n < 1 || n > options_.block) throw std::invalid_argument("n must be in [1, block]");
  const int64_t first = block_first_frame(t_, hop_);
  const int frames = block_frames(t_, n, hop_);
  const int rows = streams_ * channels_;
  int column = 0;
  if (first < conditioner_->next_frame()) {  // the block starts inside the frame emitted last time
    for (int r = 0; r < rows; ++r) cond_block_[static_cast<size_t>(r) * frames] = last_frame_[r];
    column = 1;
  }
  if (frames > column) conditioner_->frames(frames - column, cond_block_.data() + column, frames);
  for (int r = 0; r < rows; ++r) last_frame_[r] = cond_block_[static_cast<size_t>(r) * frames + frames - 1];
  // The controls as of the block's last frame: the mod wheel raises the temperature up to twice its base.
  temperature_ = options_.temperature * (1.0f + conditioner_->mod_wheel() / 127.0f);
  if (conditioner_->program() >= 0) global_id_ = conditioner_->program();
  std::fill(global_ids_.begin(), global_ids_.end(), global_id_);
  // Runs of frames in which no voice changes phase: one engine call each (one for the whole block when no
  // phase is scaled, or the model has no onsets).
  if (phased_) find_phases(frames, column == 1);
  for (int begin = 0, done = 0; begin < frames;) {
    int end = phased_ ? begin : frames - 1;
    while (phased_ && end + 1 < frames && same_phases(begin, end + 1, frames)) ++end;
    const int64_t run_end = std::min<int64_t>(t_ + n - done, (first + end + 1) * static_cast<int64_t>(hop_));
    const int m = static_cast<int>(run_end - t_);
    generate_run(m, begin, end, frames, out + done);
    done += m;
    begin = end + 1;
  }
}

bool Performer::attack(int stream, int column, int frames) const {
  const float* onsets = cond_block_.data() + (static_cast<size_t>(stream) * channels_ + kKeys) * frames + column;
  for (int key = 0; key < kKeys; ++key) {
    if (onsets[static_cast<size_t>(key) * frames] > 0.0f) return true;
  }
  return false;
}

void Performer::find_phases(int frames, bool carried) {
  for (int s = 0; s < streams_; ++s) {
    int lit = lit_frames_[s];
    for (int c = 0; c < frames; ++c) {
      const bool attacking = attack(s, c, frames);
      if (c > 0 || !carried) lit = attacking ? lit + 1 : 0;  // a carried frame was counted when emitted
      phases_[static_cast<size_t>(s) * frames + c] = !attacking ? kSustain : lit <= strike_frames_ ? kStrike : kAttack;
    }
    lit_frames_[s] = lit;
  }
}

float Performer::level(int stream, int column, int frames) const {
  const float* roll = cond_block_.data() + static_cast<size_t>(stream) * channels_ * frames + column;
  float loudest = 0.0f;
  for (int key = 0; key < kKeys; ++key) loudest = std::max(loudest, roll[static_cast<size_t>(key) * frames]);
  return loudest;
}

float Performer::scale(int stream, int column, int frames) const {
  switch (phases_[static_cast<size_t>(stream) * frames + column]) {
    case kSustain: return options_.sustain_scale;
    case kAttack: return 1.0f;
    default: return 1.0f + (options_.strike_scale - 1.0f) * level(stream, column, frames);  // soft notes stay soft
  }
}

bool Performer::same_phases(int a, int b, int frames) const {
  for (int s = 0; s < streams_; ++s) {
    if (phases_[static_cast<size_t>(s) * frames + a] != phases_[static_cast<size_t>(s) * frames + b]) return false;
  }
  return true;
}

void Performer::generate_run(int n, int first, int last, int frames, float* out) {
  const int run_frames = channels_ ? last - first + 1 : 0;
  const float* cond = nullptr;
  if (run_frames == frames) {
    cond = cond_block_.data();
  } else if (run_frames) {
    for (int r = 0; r < streams_ * channels_; ++r) {
      std::copy_n(cond_block_.data() + static_cast<size_t>(r) * frames + first, run_frames,
                  run_cond_.data() + static_cast<size_t>(r) * run_frames);
    }
    cond = run_cond_.data();
  }
  for (int s = 0; s < streams_; ++s) {
    temperatures_[s] = phased_ ? temperature_ * scale(s, first, frames) : temperature_;
  }
  engine_->generate(n, cond, run_frames, global_ids_.data(), temperatures_.data(), voice_audio_.data());
  if (trimmed_) trim_voices(n, first, frames);
  mix_voices(voice_audio_.data(), streams_, n, options_.gain, out);
  t_ += n;
}

// A voice's trim follows the velocity of the key it holds (the roll holds it while the key or the pedal
// does) and keeps it through the release tail; a new velocity is reached over kVelocityTrimRamp samples (the
// voice's first at once). wavenet_rt/velocity_level.py computes the same trims for training.
// The trims scale only what is mixed: each stream hears its own samples as drawn.
void Performer::trim_voices(int n, int first, int frames) {
  for (int s = 0; s < streams_; ++s) {
    float* audio = voice_audio_.data() + static_cast<size_t>(s) * n;
    for (int i = 0; i < n; ++i) {
      const int64_t t = t_ + i;
      if (i == 0 || t % hop_ == 0) {  // a frame starts: its velocity sets the target
        const int column = first + static_cast<int>(t / hop_ - t_ / hop_);
        const float held = level(s, column, frames);
        const float target = velocity_gains_[std::clamp(static_cast<int>(std::lround(held * 127.0f)), 0, 127)];
        if (held > 0.0f && trim_target_[s] == 0.0f) {  // its first note: nothing sounds to ramp from
          trim_target_[s] = trim_now_[s] = target;
        } else if (held > 0.0f && target != trim_target_[s]) {
          trim_target_[s] = target;
          trim_step_[s] = (target - trim_now_[s]) / kVelocityTrimRamp;
          trim_ramp_left_[s] = kVelocityTrimRamp;
        }
      }
      if (trim_ramp_left_[s] > 0) {
        trim_now_[s] = --trim_ramp_left_[s] == 0 ? trim_target_[s] : trim_now_[s] + trim_step_[s];
      }
      audio[i] *= trim_now_[s];
    }
  }
}

}  // namespace wavenet_rt
