// latch.hpp — fiber::latch: a single-use countdown that releases every waiter at zero.
//
//   fiber::latch ready(n);
//   for (int i = 0; i < n; ++i) fiber::spawn([&] { setup(); ready.count_down(); });
//   ready.wait();
//
// Same interface and semantics as std::latch (constexpr constructor: `constinit` works); waiting
// parks a fiber or blocks a plain OS thread. count_down and try_wait are one atomic operation;
// waiters queue under a spinlock. Fairness: all waiters are released together when the count
// reaches zero. try_wait that keeps failing on a fiber yields it now and then (a polling loop lets
// the counting fibers run). Misuse (undefined in std): counting below zero stops at zero and
// prints one line naming the caller (sync/detail/misuse.hpp).
#pragma once

#include <sync/detail/notify_list.hpp>

#include <atomic>
#include <cstddef>
#include <limits>

namespace fiber {

class latch {
 public:
  static constexpr std::ptrdiff_t max() noexcept { return std::numeric_limits<std::ptrdiff_t>::max(); }

  constexpr explicit latch(std::ptrdiff_t expected) noexcept : count_(expected) {}
  latch(const latch&) = delete;
  latch& operator=(const latch&) = delete;

  void count_down(std::ptrdiff_t n = 1) noexcept;
  bool try_wait() const noexcept {
    if (count_.load(std::memory_order_acquire) == 0) return true;
    detail::note_failed_try();
    return false;
  }
  void wait() const noexcept;
  void arrive_and_wait(std::ptrdiff_t n = 1) noexcept {
    count_down(n);
    wait();
  }

 private:
  mutable detail::notify_list list_;  // waiters; count_down to zero notifies them under its guard
  std::atomic<std::ptrdiff_t> count_;
};

}  // namespace fiber
