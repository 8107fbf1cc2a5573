// semaphore.hpp — fiber::counting_semaphore<Max> and fiber::binary_semaphore.
//
//   fiber::counting_semaphore<8> slots(8);
//   slots.acquire(); use_connection(); slots.release();
//   if (slots.try_acquire_for(50ms)) { ...; slots.release(); }
//   constinit fiber::binary_semaphore ready(0);          // constexpr constructor, as std's
//
// Same interface and semantics as std::counting_semaphore; acquire parks a fiber or blocks a
// plain OS thread, and release may be called from either. The uncontended paths are one atomic
// operation on the count (no lock, no syscall, no allocation).
// Fairness: a unit that is free goes to whoever asks first; units released while callers wait are
// handed to the waiters in FIFO order by that release() call itself (a waiter never has to wake
// up and race for them). try_acquire that fails several times in a row on a fiber yields it, so a
// `while (!s.try_acquire()) {}` loop lets the releasing fiber run.
// Timed forms: try_acquire_for measures on steady_clock; try_acquire_until(t) fails only once t's
// own clock has reached t; extreme values saturate.
// Misuse (undefined in std): release(n) with n < 0 is ignored, beyond max() counted anyway; each
// prints one line naming the caller (sync/detail/misuse.hpp).
#pragma once

#include <fiber/detail/spinlock.hpp>
#include <fiber/detail/park.hpp>
#include <sync/detail/wait_list.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <limits>

namespace fiber {

namespace detail {

// Dekker-style handshake between release() and a waiter (both sides seq_cst): a waiter announces
// itself in waiting_ *then* re-checks count_; release() adds to count_ *then* reads waiting_. Either
// the waiter sees the units or release() sees the waiter and hands them out under guard_.
class semaphore_core {
 public:
  constexpr explicit semaphore_core(std::ptrdiff_t initial) noexcept : count_(initial) {}
  semaphore_core(const semaphore_core&) = delete;
  semaphore_core& operator=(const semaphore_core&) = delete;

  bool try_acquire() noexcept {
    if (take(std::memory_order_acquire)) return true;
    note_failed_try();
    return false;
  }
  bool acquire_until(clock::time_point deadline) noexcept {
    return take(std::memory_order_acquire) || acquire_slow(deadline);
  }
  void release(std::ptrdiff_t n, std::ptrdiff_t max) noexcept;

 private:
  bool take(std::memory_order order) noexcept {
    std::ptrdiff_t c = count_.load(order == std::memory_order_seq_cst ? order : std::memory_order_relaxed);
    while (c > 0)
      if (count_.compare_exchange_weak(c, c - 1, order, std::memory_order_relaxed)) return true;
    return false;
  }
  bool acquire_slow(clock::time_point deadline) noexcept;
  void hand_out() noexcept;

  std::atomic<std::ptrdiff_t> count_;       // free units
  std::atomic<std::ptrdiff_t> waiting_{0};  // callers queued (or about to queue) in waiters_
  spinlock guard_;                          // protects waiters_
  wait_list waiters_;
};

}  // namespace detail

template <std::ptrdiff_t LeastMaxValue = std::numeric_limits<std::ptrdiff_t>::max()>
class counting_semaphore {
  static_assert(LeastMaxValue >= 0, "counting_semaphore: LeastMaxValue must be non-negative");

 public:
  static constexpr std::ptrdiff_t max() noexcept { return LeastMaxValue; }

  constexpr explicit counting_semaphore(std::ptrdiff_t desired) noexcept : core_(desired) {}
  counting_semaphore(const counting_semaphore&) = delete;
  counting_semaphore& operator=(const counting_semaphore&) = delete;
  ~counting_semaphore() = default;

  void release(std::ptrdiff_t update = 1) noexcept { core_.release(update, max()); }
  void acquire() noexcept { core_.acquire_until(detail::no_deadline); }
  bool try_acquire() noexcept { return core_.try_acquire(); }
  template <class Rep, class Period>
  bool try_acquire_for(const std::chrono::duration<Rep, Period>& d) {
    return core_.acquire_until(detail::deadline_after(d));
  }
  template <class Clock, class Duration>
  bool try_acquire_until(const std::chrono::time_point<Clock, Duration>& t) {
    return detail::wait_until_clock(t, [this](detail::clock::time_point dl) { return core_.acquire_until(dl); });
  }

 private:
  detail::semaphore_core core_;
};

using binary_semaphore = counting_semaphore<1>;

}  // namespace fiber
