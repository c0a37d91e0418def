// Waiting for a 32-bit atomic to change without a mutex: a short spin, then a Linux futex sleep (a plain
// yield elsewhere). Used by the CPU engine's worker pool and the synth's generator thread; the waking
// side never blocks.
#pragma once

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <ctime>
#include <thread>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace wavenet_rt {

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Returns once `word` no longer holds `value`, or (timeout_ns > 0) after about that long.
inline void wait_while_equal(std::atomic<uint32_t>& word, uint32_t value, int spins, int64_t timeout_ns = 0) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex needs a plain 32-bit word");
  for (int i = 0; i < spins; ++i) {
    if (word.load(std::memory_order_acquire) != value) return;
    cpu_relax();
  }
#if defined(__linux__)
  timespec timeout{static_cast<time_t>(timeout_ns / 1000000000), static_cast<long>(timeout_ns % 1000000000)};
  while (word.load(std::memory_order_acquire) == value) {
    const long r = syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, value,
                           timeout_ns > 0 ? &timeout : nullptr, nullptr, 0);
    if (timeout_ns > 0 && r != 0) return;  // timed out (or interrupted): the caller re-checks its state
  }
#else
  auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(timeout_ns);
  while (word.load(std::memory_order_acquire) == value) {
    if (timeout_ns > 0 && std::chrono::steady_clock::now() > until) return;
    std::this_thread::yield();
  }
#endif
}

inline void wake_all(std::atomic<uint32_t>& word) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
#else
  (void)word;
#endif
}

}  // namespace wavenet_rt
