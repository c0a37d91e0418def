// A fixed set of threads that run one task together and wait for each other, for the CPU engine's
// streams: no allocation, no mutex, no condition variable after construction. Workers spin briefly and
// then sleep on a futex (Linux) or yield, so an idle engine costs no CPU.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace wavenet_rt::cpu {

class WorkerPool {
 public:
  using Task = void (*)(void* context, int thread_index) noexcept;  // must not throw: threads share the run

  // threads >= 1; the thread that calls run() is thread 0, so threads - 1 are started here.
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs task(context, i) on every thread i and returns when all have finished; with active == 1 only on
  // the calling thread (task(context, 0)), waking no worker. Real-time safe: no allocation or lock; the
  // caller spins (then sleeps) only while its workers finish their part.
  void run(Task task, void* context, int active);

 private:
  void worker_loop(int index);
  void stop_workers();

  std::vector<std::thread> workers_;
  std::atomic<uint32_t> epoch_{0};    // bumped once per run(); workers wait for it to change
  std::atomic<uint32_t> pending_{0};  // workers still busy with the current run
  std::atomic<bool> stopping_{false};
  Task task_ = nullptr;
  void* context_ = nullptr;
};

}  // namespace wavenet_rt::cpu
