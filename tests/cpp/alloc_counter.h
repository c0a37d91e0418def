// Counts every allocation (malloc and friends, so operator new too) and every pthread_mutex_lock of the whole
// process while `counting` is on, forwarding to glibc: how the C++ checks prove a real-time path allocates
// and locks nothing. Include it in exactly one file of a check executable (it defines the C functions). Linux.
#pragma once

#include <dlfcn.h>
#include <pthread.h>

#include <atomic>
#include <cstddef>

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace alloc_counter {
inline std::atomic<bool> counting{false};
inline std::atomic<long> allocations{0}, locks{0};
using MutexLock = int (*)(pthread_mutex_t*);
inline MutexLock real_mutex_lock = nullptr;  // glibc's, found with dlsym before anything is counted
inline void count() {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace alloc_counter
using namespace alloc_counter;  // a check's own file reads these names plainly

extern "C" {
void* malloc(size_t n) { count(); return __libc_malloc(n); }
void* calloc(size_t n, size_t size) { count(); return __libc_calloc(n, size); }
void* realloc(void* p, size_t n) { count(); return __libc_realloc(p, n); }
void* aligned_alloc(size_t alignment, size_t n) { count(); return __libc_memalign(alignment, n); }
void* memalign(size_t alignment, size_t n) { count(); return __libc_memalign(alignment, n); }
int posix_memalign(void** out, size_t alignment, size_t n) {
  count();
  *out = __libc_memalign(alignment, n);
  return *out ? 0 : 12;  // ENOMEM
}
void free(void* p) { __libc_free(p); }
int pthread_mutex_lock(pthread_mutex_t* m) {
  if (counting.load(std::memory_order_relaxed)) locks.fetch_add(1, std::memory_order_relaxed);
  if (real_mutex_lock == nullptr) real_mutex_lock = reinterpret_cast<MutexLock>(dlsym(RTLD_NEXT, "pthread_mutex_lock"));
  return real_mutex_lock(m);
}
}  // extern "C"
