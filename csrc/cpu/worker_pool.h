// A fixed set of threads that share one task's parts, for the CPU engine's streams: no allocation, no
// mutex, no condition variable after construction. Each part goes to whichever thread claims it first, so
// a worker the scheduler runs late costs the caller that part's time, not a wait. Idle workers spin
// briefly and then sleep on a futex (Linux) or yield, so an idle engine costs no CPU.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace wavenet_rt::cpu {

class WorkerPool {
 public:
  using Task = void (*)(void* context, int part) noexcept;  // must not throw: threads share the run

  static constexpr int kMaxParts = 0xFFFF;

  // threads >= 1; the thread that calls run() is one of them, so threads - 1 are started here.
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs task(context, p) once for every part p in [0, parts) and returns when all have finished. The
  // caller claims parts as the workers do, so with one part, or when no worker has started by the time it
  // is free, it runs them itself. Real-time safe: no allocation or lock; the caller spins (then sleeps)
  // only while a part that a worker claimed is still running.
  void run(Task task, void* context, int parts);

 private:
  int claim(uint32_t run_id, int* parts);  // a part of run `run_id` not yet taken (and their count), or -1
  void run_parts(uint32_t run_id);
  void worker_loop();
  void stop_workers();

  std::vector<std::thread> workers_;
  std::atomic<uint32_t> run_id_{0};  // bumped once per run(); idle workers wait for it to change
  // (run id << 32) | (parts << 16) | next part: one word, so a worker woken after its run has ended
  // cannot take a part of the next one by mistake.
  std::atomic<uint64_t> claims_{0};
  std::atomic<uint32_t> finished_{0};  // parts of the current run done
  std::atomic<bool> stopping_{false};
  Task task_ = nullptr;  // written before claims_ is published; read only by a thread holding a claim
  void* context_ = nullptr;
};

}  // namespace wavenet_rt::cpu
