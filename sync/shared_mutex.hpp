// shared_mutex.hpp — fiber::shared_mutex and fiber::shared_timed_mutex (readers/writer locks).
//
//   fiber::shared_mutex m;
//   { std::shared_lock r(m); read(table); }      // many readers at once
//   { std::unique_lock w(m); write(table); }     // one writer, no readers
//
// Same interface and semantics as the std:: twins; a contended call parks a fiber or blocks a
// plain OS thread. State (under an internal spinlock — uncontended paths take no syscall):
//   free            -> lock(): exclusive;  lock_shared(): shared(1)
//   shared(n)       -> lock(): waits;      lock_shared(): shared(n+1) unless someone waits
//   exclusive       -> both wait
// Fairness: phase-fair FIFO. Waiters queue in arrival order; a new reader queues behind a waiting
// writer, so writers cannot starve; when the lock frees, the oldest writer gets it, or the whole
// run of readers at the head of the queue gets it together. Ownership is handed off (no barging).
// Misuse (always checked: the state is at hand): unlock() while not exclusively locked,
// unlock_shared() with no reader, destroying a locked mutex (debug builds) abort with a message.
#pragma once

#include <fiber/detail/spinlock.hpp>
#include <fiber/park.hpp>
#include <sync/detail/wait_list.hpp>

#include <chrono>
#include <cstdint>

namespace fiber {

namespace detail {

class shared_core {
 public:
  shared_core() noexcept = default;
  shared_core(const shared_core&) = delete;
  shared_core& operator=(const shared_core&) = delete;
  ~shared_core();

  bool lock_until(clock::time_point deadline, bool shared) noexcept;
  bool try_lock(bool shared) noexcept;
  void unlock() noexcept;
  void unlock_shared() noexcept;

 private:
  void grant_locked() noexcept;  // hands the lock to the head of the queue while possible

  spinlock guard_;
  std::uint32_t readers_ = 0;  // shared owners
  bool writer_ = false;        // an exclusive owner exists
  wait_list waiters_;          // tag: 1 = exclusive, 0 = shared
};

}  // namespace detail

class shared_mutex {
 public:
  shared_mutex() noexcept = default;
  shared_mutex(const shared_mutex&) = delete;
  shared_mutex& operator=(const shared_mutex&) = delete;

  void lock() { core_.lock_until(detail::no_deadline, false); }
  bool try_lock() noexcept { return core_.try_lock(false); }
  void unlock() noexcept { core_.unlock(); }
  void lock_shared() { core_.lock_until(detail::no_deadline, true); }
  bool try_lock_shared() noexcept { return core_.try_lock(true); }
  void unlock_shared() noexcept { core_.unlock_shared(); }

 protected:
  detail::shared_core core_;
};

class shared_timed_mutex : public shared_mutex {
 public:
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return core_.lock_until(detail::steady_after(d), false);
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& t) {
    return core_.lock_until(detail::to_steady(t), false);
  }
  template <class Rep, class Period>
  bool try_lock_shared_for(const std::chrono::duration<Rep, Period>& d) {
    return core_.lock_until(detail::steady_after(d), true);
  }
  template <class Clock, class Duration>
  bool try_lock_shared_until(const std::chrono::time_point<Clock, Duration>& t) {
    return core_.lock_until(detail::to_steady(t), true);
  }
};

}  // namespace fiber
