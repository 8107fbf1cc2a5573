// semaphore.hpp — fiber::counting_semaphore<Max> and fiber::binary_semaphore.
//
//   fiber::counting_semaphore<8> slots(8);
//   slots.acquire(); use_connection(); slots.release();
//   if (slots.try_acquire_for(50ms)) { ...; slots.release(); }
//
// Same interface and semantics as std::counting_semaphore; acquire parks a fiber or blocks a
// plain OS thread, and release may be called from either. The count and the waiter queue sit
// under one spinlock (no syscall or allocation on the uncontended path).
// Fairness: strict FIFO hand-off — release(n) gives one unit to each of the n oldest waiters
// directly; only the units left over go back to the count. Invariant: the queue is non-empty
// only while the count is 0, so a newcomer never overtakes a waiter and none starves.
// Misuse: release(n) with n < 0 or beyond max() aborts with a message.
#pragma once

#include <fiber/detail/spinlock.hpp>
#include <fiber/park.hpp>
#include <sync/detail/wait_list.hpp>

#include <chrono>
#include <cstddef>
#include <limits>

namespace fiber {

namespace detail {

class semaphore_core {
 public:
  explicit semaphore_core(std::ptrdiff_t initial) noexcept : count_(initial) {}
  semaphore_core(const semaphore_core&) = delete;
  semaphore_core& operator=(const semaphore_core&) = delete;

  bool try_acquire() noexcept;
  bool acquire_until(clock::time_point deadline) noexcept;
  void release(std::ptrdiff_t n, std::ptrdiff_t max) noexcept;

 private:
  spinlock guard_;
  std::ptrdiff_t count_;  // units available; 0 whenever waiters_ is non-empty
  wait_list waiters_;
};

}  // namespace detail

template <std::ptrdiff_t LeastMaxValue = std::numeric_limits<std::ptrdiff_t>::max()>
class counting_semaphore {
  static_assert(LeastMaxValue >= 0, "counting_semaphore: LeastMaxValue must be non-negative");

 public:
  static constexpr std::ptrdiff_t max() noexcept { return LeastMaxValue; }

  explicit counting_semaphore(std::ptrdiff_t desired) noexcept : core_(desired) {}
  counting_semaphore(const counting_semaphore&) = delete;
  counting_semaphore& operator=(const counting_semaphore&) = delete;

  void release(std::ptrdiff_t update = 1) noexcept { core_.release(update, max()); }
  void acquire() noexcept { core_.acquire_until(detail::no_deadline); }
  bool try_acquire() noexcept { return core_.try_acquire(); }
  template <class Rep, class Period>
  bool try_acquire_for(const std::chrono::duration<Rep, Period>& d) {
    return core_.acquire_until(detail::steady_after(d));
  }
  template <class Clock, class Duration>
  bool try_acquire_until(const std::chrono::time_point<Clock, Duration>& t) {
    return core_.acquire_until(detail::to_steady(t));
  }

 private:
  detail::semaphore_core core_;
};

using binary_semaphore = counting_semaphore<1>;

}  // namespace fiber
