// WorkerPool (worker_pool.h): an epoch counter announces each task, a pending counter reports its end;
// waiting spins for ~0.2 ms and then sleeps on a futex, so short gaps between blocks cost no wake-up.
#include "worker_pool.h"

#include <climits>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace wavenet_rt::cpu {
namespace {

constexpr int kSpins = 2000;

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

uint32_t* futex_word(std::atomic<uint32_t>& word) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex needs a plain 32-bit word");
  return reinterpret_cast<uint32_t*>(&word);
}

// Returns once `word` no longer holds `value`.
void wait_while_equal(std::atomic<uint32_t>& word, uint32_t value) {
  for (int spin = 0; spin < kSpins; ++spin) {
    if (word.load(std::memory_order_acquire) != value) return;
    cpu_relax();
  }
  while (word.load(std::memory_order_acquire) == value) {
#if defined(__linux__)
    syscall(SYS_futex, futex_word(word), FUTEX_WAIT_PRIVATE, value, nullptr, nullptr, 0);
#else
    std::this_thread::yield();
#endif
  }
}

void wake_all(std::atomic<uint32_t>& word) {
#if defined(__linux__)
  syscall(SYS_futex, futex_word(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
#else
  (void)word;
#endif
}

}  // namespace

WorkerPool::WorkerPool(int threads) {
  workers_.reserve(threads > 1 ? threads - 1 : 0);
  try {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  } catch (...) {  // a thread that could not start: stop the ones that did before unwinding
    stop_workers();
    throw;
  }
}

WorkerPool::~WorkerPool() { stop_workers(); }

void WorkerPool::stop_workers() {
  stopping_.store(true, std::memory_order_release);
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  wake_all(epoch_);
  for (auto& worker : workers_) worker.join();
}

void WorkerPool::run(Task task, void* context) {
  if (workers_.empty()) {
    task(context, 0);
    return;
  }
  task_ = task;
  context_ = context;
  pending_.store(static_cast<uint32_t>(workers_.size()), std::memory_order_relaxed);
  epoch_.fetch_add(1, std::memory_order_acq_rel);  // publishes task_, context_ and pending_
  wake_all(epoch_);
  task(context, 0);
  for (uint32_t left; (left = pending_.load(std::memory_order_acquire)) != 0;) wait_while_equal(pending_, left);
}

void WorkerPool::worker_loop(int index) {
  uint32_t seen = 0;
  for (;;) {
    wait_while_equal(epoch_, seen);
    seen = epoch_.load(std::memory_order_acquire);
    if (stopping_.load(std::memory_order_acquire)) return;
    task_(context_, index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) wake_all(pending_);
  }
}

}  // namespace wavenet_rt::cpu
