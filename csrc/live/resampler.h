// Streaming sample-rate conversion by a rational factor (polyphase Kaiser-windowed sinc), for the synth's
// model rate -> device rate (e.g. 16 kHz -> 48 kHz). Block sizes may vary; output does not depend on them.
// Its group delay is part of the key-to-sound latency the synth reports.
#pragma once

#include <cstdint>
#include <vector>

namespace wavenet_rt {

class Resampler {
 public:
  // max_block: the most input samples one process() call takes. taps_per_phase sets quality and delay.
  Resampler(int in_rate, int out_rate, int max_block, int taps_per_phase = 16);

  int up() const { return up_; }      // out_rate / gcd
  int down() const { return down_; }  // in_rate / gcd
  int max_output(int inputs) const { return static_cast<int>((static_cast<int64_t>(inputs) * up_ + down_ - 1) / down_) + 1; }
  double delay_seconds() const { return delay_seconds_; }
  // The first input sample at or after output `frame`'s instant: where an event at that frame takes effect.
  int64_t input_at_or_after(int64_t frame) const { return (frame * down_ + up_ - 1) / up_; }

  // Converts n (<= max_block) inputs, writes the outputs they complete, returns how many. No allocation.
  int process(const float* in, int n, float* out);
  void reset();

 private:
  int up_, down_, taps_, max_block_;
  double delay_seconds_;
  std::vector<float> coeffs_;   // (up, taps): phase p, tap m = prototype[p + m * up]
  std::vector<float> history_;  // taps - 1 earlier inputs, then the current block
  int64_t next_ = 0;            // the next output's time in units of 1 / up input samples
  int64_t consumed_ = 0;        // inputs before the current block
};

}  // namespace wavenet_rt
