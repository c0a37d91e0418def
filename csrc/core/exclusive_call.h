// ExclusiveCall: marks an engine busy for one call, so a second thread calling meanwhile gets an error
// instead of a data race (the bindings release the GIL). Shared by every engine backend.
#pragma once

#include <atomic>
#include <stdexcept>

namespace wavenet_rt {

class ExclusiveCall {
 public:
  explicit ExclusiveCall(std::atomic<bool>& busy) : busy_(busy) {
    if (busy_.exchange(true, std::memory_order_acquire)) {
      throw std::logic_error(
          "this engine is already generating on another thread; use one engine per thread");
    }
  }
  ~ExclusiveCall() { busy_.store(false, std::memory_order_release); }
  ExclusiveCall(const ExclusiveCall&) = delete;
  ExclusiveCall& operator=(const ExclusiveCall&) = delete;

 private:
  std::atomic<bool>& busy_;
};

}  // namespace wavenet_rt
