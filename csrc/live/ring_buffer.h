// Single-producer single-consumer lock-free ring buffer: one thread writes, one thread reads, neither
// ever waits or allocates after construction. Used for audio (generator thread -> audio callback), for
// the recording tap and for MIDI events (input thread -> generator thread). Capacity is a power of two.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace wavenet_rt {

template <typename T>
class RingBuffer {
 public:
  // Holds at least `min_capacity` items (rounded up to a power of two).
  explicit RingBuffer(size_t min_capacity) {
    if (min_capacity > (size_t{1} << 40)) throw std::length_error("ring buffer capacity out of range");
    size_t capacity = 1;
    while (capacity < min_capacity) capacity <<= 1;
    items_.resize(capacity);
    mask_ = capacity - 1;
  }
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;

  size_t capacity() const { return mask_ + 1; }
  // Items readable now: exact from the consumer's side, an upper bound from the producer's, a snapshot
  // from any other thread (tail is read first, so it is never negative).
  size_t size() const {
    const size_t tail = tail_.load(std::memory_order_acquire);
    return head_.load(std::memory_order_acquire) - tail;
  }

  // Producer: copies up to n items in, returns how many fit.
  size_t write(const T* items, size_t n) {
    const size_t head = head_.load(std::memory_order_relaxed);
    const size_t tail = tail_.load(std::memory_order_acquire);  // slots the consumer has released
    n = std::min(n, capacity() - (head - tail));
    copy_in(head, items, n);
    head_.store(head + n, std::memory_order_release);  // publishes the items
    return n;
  }

  // Consumer: copies up to n items out, returns how many there were.
  size_t read(T* items, size_t n) {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    const size_t head = head_.load(std::memory_order_acquire);  // items the producer has published
    n = std::min(n, head - tail);
    copy_out(tail, items, n);
    tail_.store(tail + n, std::memory_order_release);  // releases the slots
    return n;
  }

  // Consumer: drops everything readable now (a synth restarting must not play the last run's tail).
  void discard() { tail_.store(head_.load(std::memory_order_acquire), std::memory_order_release); }

  // Consumer: total items read since construction (the read position).
  size_t read_count() const { return tail_.load(std::memory_order_acquire); }
  // Producer: total items written since construction.
  size_t write_count() const { return head_.load(std::memory_order_acquire); }

 private:
  void copy_in(size_t position, const T* items, size_t n) {
    const size_t start = position & mask_, first = std::min(n, capacity() - start);
    std::copy(items, items + first, items_.begin() + static_cast<long>(start));
    std::copy(items + first, items + n, items_.begin());
  }
  void copy_out(size_t position, T* items, size_t n) const {
    const size_t start = position & mask_, first = std::min(n, capacity() - start);
    std::copy(items_.begin() + static_cast<long>(start), items_.begin() + static_cast<long>(start + first), items);
    std::copy(items_.begin(), items_.begin() + static_cast<long>(n - first), items + first);
  }

  std::vector<T> items_;
  size_t mask_ = 0;
  alignas(64) std::atomic<size_t> head_{0};  // written only by the producer
  alignas(64) std::atomic<size_t> tail_{0};  // written only by the consumer
};

}  // namespace wavenet_rt
