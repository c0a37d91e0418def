// The CPU engine's worker pool (csrc/cpu/worker_pool.h): every part of every run runs exactly once and
// before run() returns, under many runs of varying sizes; a caller whose worker cannot start (both on one
// CPU, the caller real-time) runs every part itself instead of waiting. Exit 0 = pass.
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "cpu/worker_pool.h"

namespace {

using wavenet_rt::cpu::WorkerPool;

struct Tally {
  std::atomic<int> runs_of_part[16] = {};  // more than any run below asks for
};

void count_part(void* context, int part) noexcept {
  static_cast<Tally*>(context)->runs_of_part[part].fetch_add(1, std::memory_order_relaxed);
}

int check_every_part_once(int threads, int runs) {
  WorkerPool pool(threads);
  Tally tally;
  std::mt19937 rng(threads);
  long errors = 0;
  for (int r = 0; r < runs; ++r) {
    const int parts = static_cast<int>(rng() % (threads + 3));  // 0 .. threads + 2: more parts than threads too
    pool.run(&count_part, &tally, parts);
    for (int p = 0; p < parts + 1; ++p) {  // each part once, and nothing past the last
      errors += tally.runs_of_part[p].exchange(0, std::memory_order_relaxed) != (p < parts ? 1 : 0);
    }
  }
  std::printf("%d threads, %d runs: %ld parts run other than once\n", threads, runs, errors);
  return errors == 0 ? 0 : 1;
}

struct Busy {
  std::thread::id ran_on[2];
};

void spin_a_while(void* context, int part) noexcept {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  while (std::chrono::steady_clock::now() < until) {
  }
  static_cast<Busy*>(context)->ran_on[part] = std::this_thread::get_id();
}

// With the worker on the caller's CPU and the caller real-time, the worker cannot run until the caller
// sleeps: a pool that left part 1 to the worker would have the caller wait for it.
int check_caller_does_not_wait_for_a_late_worker() {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu(), &one);
  if (sched_setaffinity(0, sizeof(one), &one) != 0) return std::printf("late worker: no affinity, skipped\n"), 0;
  WorkerPool pool(2);  // its worker inherits the one CPU
  sched_param fifo{};
  fifo.sched_priority = sched_get_priority_min(SCHED_FIFO);
  if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo) != 0) {
    return std::printf("late worker: no real-time priority here (not root?), skipped\n"), 0;
  }
  Busy busy;
  pool.run(&spin_a_while, &busy, 2);
  sched_param other{};
  pthread_setschedparam(pthread_self(), SCHED_OTHER, &other);
  const bool both_here = busy.ran_on[0] == std::this_thread::get_id() && busy.ran_on[1] == std::this_thread::get_id();
  std::printf("late worker: the caller ran %s\n", both_here ? "both parts" : "one part and waited for the worker");
  return both_here ? 0 : 1;
}

}  // namespace

int main() {
  int failed = 0;
  failed += check_every_part_once(2, 20000);
  failed += check_every_part_once(4, 20000);
  failed += check_caller_does_not_wait_for_a_late_worker();
  return failed == 0 ? 0 : 1;
}
