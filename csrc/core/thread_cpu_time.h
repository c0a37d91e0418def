// CPU time the calling thread has run, for the live paths' load figures (the synth's callback, the LV2
// plugin's run()): unlike wall time it is not inflated when the thread is preempted (a shared VM steals the
// CPU for milliseconds at a time). A clock read: no lock, no allocation.
#pragma once

#include <time.h>

#include <cstdint>

namespace wavenet_rt {

inline int64_t thread_cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

}  // namespace wavenet_rt
