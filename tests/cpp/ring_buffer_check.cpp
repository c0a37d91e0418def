// Two-thread stress test of the lock-free SPSC ring (csrc/live/ring_buffer.h): a producer writes a numbered
// sequence in random-sized pieces, a consumer reads in other random sizes; nothing may be lost,
// duplicated or reordered. Also the resampler (csrc/live/resampler.h) against a float64 sine. Exit 0 = pass.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "live/resampler.h"
#include "live/ring_buffer.h"

namespace {

int check_ring(uint64_t items, size_t capacity) {
  wavenet_rt::RingBuffer<uint64_t> ring(capacity);
  std::thread producer([&] {
    std::mt19937 rng(1);
    std::vector<uint64_t> piece(capacity * 2);
    uint64_t next = 0;
    while (next < items) {
      const size_t n = std::min<uint64_t>(rng() % (capacity + capacity / 2) + 1, items - next);
      for (size_t i = 0; i < n; ++i) piece[i] = next + i;
      size_t done = 0;
      while (done < n) done += ring.write(piece.data() + done, n - done);  // spins while full
      next += n;
    }
  });
  std::mt19937 rng(2);
  std::vector<uint64_t> piece(capacity * 2);
  uint64_t expected = 0, errors = 0;
  while (expected < items) {
    const size_t got = ring.read(piece.data(), rng() % (capacity + 7) + 1);
    for (size_t i = 0; i < got; ++i) errors += piece[i] != expected++;
  }
  producer.join();
  errors += ring.size() != 0;
  std::printf("ring (capacity %zu): %llu items, %llu errors\n", ring.capacity(),
              static_cast<unsigned long long>(items), static_cast<unsigned long long>(errors));
  return errors != 0;
}

// A sine through the resampler in random block sizes must come out as the same sine at the new rate,
// delayed by the reported group delay, and the output must not depend on the block sizes.
int check_resampler(int in_rate, int out_rate) {
  const int max_block = 37, n = in_rate;  // one second
  const double frequency = 997.0;
  std::vector<float> in(n);
  for (int i = 0; i < n; ++i) in[i] = static_cast<float>(0.8 * std::sin(2 * M_PI * frequency * i / in_rate));
  std::vector<std::vector<float>> outputs;
  double delay = 0;
  for (int seed = 0; seed < 2; ++seed) {
    wavenet_rt::Resampler r(in_rate, out_rate, max_block);
    delay = r.delay_seconds();
    std::mt19937 rng(seed);
    std::vector<float> out, piece(r.max_output(max_block));
    for (int done = 0; done < n;) {
      const int k = std::min<int>(rng() % max_block + 1, n - done);
      const int made = r.process(in.data() + done, k, piece.data());
      out.insert(out.end(), piece.begin(), piece.begin() + made);
      done += k;
    }
    outputs.push_back(out);
  }
  int errors = outputs[0] != outputs[1];
  double worst = 0;
  const size_t settle = static_cast<size_t>(0.01 * out_rate);
  for (size_t j = settle; j < outputs[0].size() - settle; ++j) {
    const double t = static_cast<double>(j) / out_rate - delay;
    worst = std::fmax(worst, std::fabs(outputs[0][j] - 0.8 * std::sin(2 * M_PI * frequency * t)));
  }
  errors += worst > 2e-3 || std::fabs(static_cast<double>(outputs[0].size()) - static_cast<double>(n) * out_rate / in_rate) > 2;
  std::printf("resampler %d -> %d Hz: %zu outputs, delay %.3f ms, max error %.2e, block-independent %s\n", in_rate,
              out_rate, outputs[0].size(), 1e3 * delay, worst, outputs[0] == outputs[1] ? "yes" : "no");
  return errors != 0;
}

}  // namespace

int main() {
  int failures = 0;
  failures += check_ring(20000000, 1000);
  failures += check_ring(5000000, 16);
  failures += check_resampler(16000, 48000);
  failures += check_resampler(16000, 44100);
  failures += check_resampler(24000, 48000);
  failures += check_resampler(22050, 16000);
  return failures ? 1 : 0;
}
