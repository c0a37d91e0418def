// WorkerPool (worker_pool.h): a run id announces each task, one atomic word hands out its parts, a counter
// reports them done; waiting spins briefly and then sleeps on a futex (csrc/core/futex.h).
#include "cpu/worker_pool.h"

#include <stdexcept>

#include "core/futex.h"

namespace wavenet_rt::cpu {
namespace {

constexpr int kSpins = 2000;  // about 0.1-0.3 ms of pause before sleeping

uint32_t run_of(uint64_t claims) { return static_cast<uint32_t>(claims >> 32); }
int parts_of(uint64_t claims) { return static_cast<int>((claims >> 16) & 0xFFFF); }
int next_of(uint64_t claims) { return static_cast<int>(claims & 0xFFFF); }

}  // namespace

WorkerPool::WorkerPool(int threads) {
  workers_.reserve(threads > 1 ? threads - 1 : 0);
  try {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  } catch (...) {  // a thread that could not start: stop the ones that did before unwinding
    stop_workers();
    throw;
  }
}

WorkerPool::~WorkerPool() { stop_workers(); }

void WorkerPool::stop_workers() {
  stopping_.store(true, std::memory_order_release);
  run_id_.fetch_add(1, std::memory_order_acq_rel);
  wake_all(run_id_);
  for (auto& worker : workers_) worker.join();
}

int WorkerPool::claim(uint32_t run_id, int* parts) {
  uint64_t claims = claims_.load(std::memory_order_acquire);
  while (run_of(claims) == run_id && next_of(claims) < parts_of(claims)) {
    if (claims_.compare_exchange_weak(claims, claims + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      *parts = parts_of(claims);
      return next_of(claims);
    }
  }
  return -1;
}

// Claims and runs parts of run `run_id` until none is left. A claim holds the run open (run() waits for
// every claimed part), so task_ and context_ still belong to it when read here.
void WorkerPool::run_parts(uint32_t run_id) {
  int parts = 0;
  for (int part; (part = claim(run_id, &parts)) >= 0;) {
    task_(context_, part);
    // Only the last part wakes: run() sleeps only while its count is short, and the last one ends that.
    if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == static_cast<uint32_t>(parts)) wake_all(finished_);
  }
}

void WorkerPool::run(Task task, void* context, int parts) {
  if (parts < 0 || parts > kMaxParts) throw std::invalid_argument("parts must be in [0, 65535]");
  if (workers_.empty() || parts <= 1) {
    for (int part = 0; part < parts; ++part) task(context, part);
    return;
  }
  task_ = task;
  context_ = context;
  finished_.store(0, std::memory_order_relaxed);
  const uint32_t run_id = run_id_.load(std::memory_order_relaxed) + 1;
  claims_.store(static_cast<uint64_t>(run_id) << 32 | static_cast<uint64_t>(parts) << 16,
                std::memory_order_release);  // publishes task_, context_ and finished_ with the parts
  run_id_.store(run_id, std::memory_order_release);
  wake_all(run_id_);
  run_parts(run_id);
  const uint32_t all = static_cast<uint32_t>(parts);
  for (uint32_t done; (done = finished_.load(std::memory_order_acquire)) != all;) {
    wait_while_equal(finished_, done, kSpins);
  }
}

void WorkerPool::worker_loop() {
  uint32_t seen = 0;
  for (;;) {
    wait_while_equal(run_id_, seen, kSpins);
    seen = run_id_.load(std::memory_order_acquire);
    if (stopping_.load(std::memory_order_acquire)) return;
    run_parts(seen);
  }
}

}  // namespace wavenet_rt::cpu
