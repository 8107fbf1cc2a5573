// mutex.hpp — fiber::mutex, timed_mutex, recursive_mutex, recursive_timed_mutex.
//
//   fiber::mutex m;
//   { std::lock_guard lk(m); ++shared_counter; }       // parks a fiber, blocks an OS thread
//   std::scoped_lock both(a.m, b.m);                    // deadlock-free std::lock works too
//
// Same interface and semantics as the std:: twins; the differences: a contended lock() parks the
// calling fiber (its worker runs other fibers) or blocks a plain OS thread, in any mix; the
// uncontended lock()/unlock() is one atomic CAS each, with no syscall and no allocation.
// Fairness (Go's sync.Mutex design, see detail/mutex_core.hpp): a free lock goes to whoever asks
// first — unlock() wakes the oldest waiter to compete rather than reserving the lock for it, so
// try_lock (and std::lock's back-off loop) succeeds whenever the lock is free. A waiter that has
// waited over 1 ms switches the mutex to starving mode: each unlock reserves the lock for the oldest
// waiter (FIFO) until the queue drains, so none starves; only a try_lock may take a reservation
// over before its waiter runs (which keeps std::lock's back-off rounds from convoying).
// Contended waiters spin briefly only while the holder runs on another worker.
// try_lock that fails several times in a row on a fiber yields it, so a polling loop lets the
// holder run. Timed forms: try_lock_for measures on steady_clock; try_lock_until(t) fails only
// once t's own clock has reached t; extreme values saturate (time_point::min() is a try).
// Misuse (undefined in std): destroying a locked mutex, unlock() of an unlocked one, and — in debug
// builds, always for the recursive types — unlock() by a fiber/thread that does not own the lock
// print one line naming the type and the caller, then do what glibc does (sync/detail/misuse.hpp;
// WEFT_MISUSE_ABORT=1 makes them fatal). Do not hold a std::mutex across a fiber:: wait: the std
// lock blocks the whole worker (see the porting notes in README).
#pragma once

#include <fiber/detail/assert.hpp>
#include <sync/detail/mutex_core.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace fiber {

namespace detail {

// Shared body of mutex and timed_mutex: the lock word, which also records its holder (for spin
// decisions, misuse checks and diagnostics).
template <const char* Name>
class basic_mutex {
 public:
  constexpr basic_mutex() noexcept = default;
  basic_mutex(const basic_mutex&) = delete;
  basic_mutex& operator=(const basic_mutex&) = delete;
  ~basic_mutex() {
    if (core_.is_locked()) report_misuse(Name, "destroyed while locked");
  }

  void lock() { core_.lock(); }
  bool try_lock() noexcept { return core_.try_lock(); }
  void unlock() noexcept {
    if (!core_.is_locked()) {
      report_misuse(Name, "unlock() of a mutex that is not locked");
      return;  // nothing to release
    }
#ifndef NDEBUG
    // Release builds skip the owner check (it costs a lookup per unlock) and unlock, as glibc does.
    if (core_.holder_who() != current_holder().who)
      report_misuse(Name, "unlock() by a fiber/thread that does not own the lock");
#endif
    core_.unlock();
  }

 protected:
  bool lock_until_steady(clock::time_point deadline) {
    return core_.try_lock_until(deadline);
  }

 private:
  mutex_core core_;
};

inline constexpr char mutex_name[] = "mutex";
inline constexpr char timed_mutex_name[] = "timed_mutex";
inline constexpr char recursive_mutex_name[] = "recursive_mutex";
inline constexpr char recursive_timed_mutex_name[] = "recursive_timed_mutex";

// Shared body of the recursive types: owner + depth over a mutex_core; checks misuse always.
template <const char* Name>
class basic_recursive_mutex {
 public:
  constexpr basic_recursive_mutex() noexcept = default;
  basic_recursive_mutex(const basic_recursive_mutex&) = delete;
  basic_recursive_mutex& operator=(const basic_recursive_mutex&) = delete;
  ~basic_recursive_mutex() {
    if (core_.is_locked()) report_misuse(Name, "destroyed while locked");
  }

  void lock() {
    const std::uint64_t me = current_owner_id();
    if (owner_.load(std::memory_order_relaxed) == me) {
      ++depth_;
      return;
    }
    core_.lock();
    owner_.store(me, std::memory_order_relaxed);
    depth_ = 1;
  }
  bool try_lock() noexcept {
    const std::uint64_t me = current_owner_id();
    if (owner_.load(std::memory_order_relaxed) == me) {
      ++depth_;
      return true;
    }
    if (!core_.try_lock()) return false;
    owner_.store(me, std::memory_order_relaxed);
    depth_ = 1;
    return true;
  }
  void unlock() noexcept {
    if (owner_.load(std::memory_order_relaxed) != current_owner_id()) {
      report_misuse(Name, "unlock() by a fiber/thread that does not own the lock");
      return;  // as glibc's recursive mutex (EPERM): the lock stays with its owner
    }
    WEFT_ASSERT(depth_ > 0, "a recursive mutex held by its owner has a depth");
    if (--depth_ == 0) {
      owner_.store(0, std::memory_order_relaxed);
      core_.unlock();
    }
  }

 protected:
  bool lock_until_steady(clock::time_point deadline) {
    const std::uint64_t me = current_owner_id();
    if (owner_.load(std::memory_order_relaxed) == me) {
      ++depth_;
      return true;
    }
    if (!core_.try_lock_until(deadline)) return false;
    owner_.store(me, std::memory_order_relaxed);
    depth_ = 1;
    return true;
  }

 private:
  mutex_core core_;
  // Only the owner writes owner_ to its own id and reads it back equal, so relaxed suffices:
  // any other caller sees a value that is not its own id.
  std::atomic<std::uint64_t> owner_{0};
  std::uint32_t depth_ = 0;  // written only by the owner
};

// Adds the std timed-lock interface on top of a body with lock_until_steady().
template <class Base>
class timed_lockable : public Base {
 public:
  using Base::Base;
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return this->lock_until_steady(deadline_after(d));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& t) {
    return wait_until_clock(t, [this](clock::time_point dl) { return this->lock_until_steady(dl); });
  }
};

}  // namespace detail

class mutex : public detail::basic_mutex<detail::mutex_name> {
 public:
  constexpr mutex() noexcept = default;
};

class timed_mutex : public detail::timed_lockable<detail::basic_mutex<detail::timed_mutex_name>> {
 public:
  constexpr timed_mutex() noexcept = default;
};

class recursive_mutex : public detail::basic_recursive_mutex<detail::recursive_mutex_name> {
 public:
  constexpr recursive_mutex() noexcept = default;
};

class recursive_timed_mutex
    : public detail::timed_lockable<detail::basic_recursive_mutex<detail::recursive_timed_mutex_name>> {
 public:
  constexpr recursive_timed_mutex() noexcept = default;
};

}  // namespace fiber
