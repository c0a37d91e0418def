// Polyphony by voice allocation, for the conditioner (conditioner.cpp): each struck key is given one of N
// voices, one engine stream each, that hears only that key. A model that learned single lines then plays
// chords as a sum of lines, the way a piano's strings sound side by side. When every voice sounds, the
// quietest gives way: a released note's tail before a held note. Allocation needs no allocation.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace wavenet_rt {

// How long a voice keeps sounding after its key stops (its tail): the shipped piano's released notes fade to
// the model's idle hiss within about half a second (wavenet_rt/voice_options.py).
constexpr double kReleaseTailSeconds = 0.5;

inline int64_t release_tail_samples(int sample_rate) { return std::llround(kReleaseTailSeconds * sample_rate); }

class VoiceAllocator {
 public:
  static constexpr int kMaxVoices = 64;

  // tail: samples a released voice counts as still sounding (0: silent at once).
  explicit VoiceAllocator(int voices, int64_t tail = 0) : voices_(voices), tail_(tail) {
    if (voices < 0 || voices > kMaxVoices) throw std::invalid_argument("voices must be in [0, 64]");
    key_.fill(-1);
    last_key_.fill(-1);
    free_since_.fill(INT64_MIN);
    struck_at_.fill(INT64_MIN);
  }

  int voices() const { return voices_; }
  int key(int voice) const { return key_[voice]; }            // the key (0-based) voice plays, -1 when free
  int last_key(int voice) const { return last_key_[voice]; }  // the key it played last, -1 if none yet

  // The voice that plays `key`, struck at `now`: the voice playing it or still sounding its tail (a
  // re-strike: one string per key); else an idle voice (free, its tail over), the one whose last key lies
  // nearest (so a melody, or each line of a chorale, stays in one voice, which is how the model heard lines
  // in training), ties to the one idle longest. When every voice sounds, the quietest is taken: a voice in
  // its tail, the one released longest ago (ties: the nearest last key); last, the held voice whose note
  // began first (its key is then heard nowhere).
  int strike(int key, int64_t now) {
    int chosen = -1;
    for (int v = 0; v < voices_ && chosen < 0; ++v) chosen = key_[v] == key ? v : -1;
    for (int v = 0; v < voices_ && chosen < 0; ++v) chosen = in_tail(v, now) && last_key_[v] == key ? v : -1;
    if (chosen < 0) chosen = best_free(key, now);
    if (chosen < 0) {
      chosen = 0;
      for (int v = 1; v < voices_; ++v) chosen = struck_at_[v] < struck_at_[chosen] ? v : chosen;
    }
    key_[chosen] = key;
    last_key_[chosen] = key;
    struck_at_[chosen] = now;
    return chosen;
  }

  // Frees every voice whose key no longer sounds (sounding(key) is false) as of `now`.
  template <class Sounding>
  void release_silent(const Sounding& sounding, int64_t now) {
    for (int v = 0; v < voices_; ++v) {
      if (key_[v] >= 0 && !sounding(key_[v])) {
        key_[v] = -1;
        free_since_[v] = now;
      }
    }
  }

 private:
  bool in_tail(int v, int64_t now) const { return key_[v] < 0 && free_since_[v] > now - tail_; }

  // The free voice to take: idle ones first, by line then idle time; then tails, the quietest (oldest) first.
  // -1 when every voice is held.
  int best_free(int key, int64_t now) const {
    constexpr int kNoLine = 1 << 20;  // a voice that never played ranks after every line
    int best = -1, best_distance = 0;
    bool best_tail = false;
    for (int v = 0; v < voices_; ++v) {
      if (key_[v] >= 0) continue;
      const int distance = last_key_[v] < 0 ? kNoLine : std::abs(last_key_[v] - key);
      const bool tail = in_tail(v, now);
      bool better = best < 0 || (best_tail && !tail);
      if (best >= 0 && tail == best_tail) {
        const bool nearer = distance < best_distance, same_line = distance == best_distance;
        const bool older = free_since_[v] < free_since_[best], same_age = free_since_[v] == free_since_[best];
        better = tail ? older || (same_age && nearer) : nearer || (same_line && older);
      }
      if (better) {
        best = v;
        best_distance = distance;
        best_tail = tail;
      }
    }
    return best;
  }

  int voices_;
  int64_t tail_;
  std::array<int, kMaxVoices> key_, last_key_;
  std::array<int64_t, kMaxVoices> free_since_, struck_at_;
};

constexpr float kMaxGain = 16.0f;  // a model's gain lies in (0, kMaxGain], in float32 as the mixer uses it
inline bool valid_gain(float gain) { return gain > 0 && gain <= kMaxGain; }
inline std::string gain_range() { return "(0, " + std::to_string(static_cast<int>(kMaxGain)) + "]"; }

// The voices' streams audio (streams, n) summed into out (n) at unity, as an instrument's notes add, times
// the model's gain (its config's level trim), and clamped to [-1, 1]. Unity, so that a note sounds as loud
// through any number of voices: the number of voices sets the polyphony, not the level. The live synth and
// offline renders both mix here, so they sound the same.
inline void mix_voices(const float* audio, int streams, int n, float gain, float* out) {
  for (int i = 0; i < n; ++i) {
    float sum = 0.0f;
    for (int s = 0; s < streams; ++s) sum += audio[static_cast<long>(s) * n + i];
    out[i] = std::clamp(sum * gain, -1.0f, 1.0f);
  }
}

}  // namespace wavenet_rt
