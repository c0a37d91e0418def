// WorkerPool (worker_pool.h): an epoch counter announces each task, a pending counter reports its end;
// waiting spins briefly and then sleeps on a futex (csrc/core/futex.h), so short gaps cost no wake-up.
#include "cpu/worker_pool.h"

#include "core/futex.h"

namespace wavenet_rt::cpu {
namespace {

constexpr int kSpins = 2000;  // about 0.1-0.3 ms of pause before sleeping

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

void WorkerPool::run(Task task, void* context, int active) {
  if (workers_.empty() || active <= 1) {
    task(context, 0);
    return;
  }
  task_ = task;
  context_ = context;
  pending_.store(static_cast<uint32_t>(workers_.size()), std::memory_order_relaxed);
  epoch_.fetch_add(1, std::memory_order_acq_rel);  // publishes task_, context_ and pending_
  wake_all(epoch_);
  task(context, 0);
  for (uint32_t left; (left = pending_.load(std::memory_order_acquire)) != 0;) wait_while_equal(pending_, left, kSpins);
}

void WorkerPool::worker_loop(int index) {
  uint32_t seen = 0;
  for (;;) {
    wait_while_equal(epoch_, seen, kSpins);
    seen = epoch_.load(std::memory_order_acquire);
    if (stopping_.load(std::memory_order_acquire)) return;
    task_(context_, index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) wake_all(pending_);
  }
}

}  // namespace wavenet_rt::cpu
