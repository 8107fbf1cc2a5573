// condition_variable.hpp — fiber::condition_variable and fiber::condition_variable_any.
//
//   fiber::mutex m; fiber::condition_variable cv; bool ready = false;
//   // waiter:                                   // notifier:
//   std::unique_lock lk(m);                      { std::lock_guard g(m); ready = true; }
//   cv.wait(lk, [&] { return ready; });          cv.notify_one();
//
// Same interface and semantics as std::condition_variable(_any): wait, wait(pred), wait_for and
// wait_until returning cv_status, notify_one, notify_all; condition_variable_any also has the
// C++20 std::stop_token waits, which return when a stop is requested (returning pred()).
// Differences from std: waiting parks a fiber or blocks a plain OS thread, in any mix with the
// notifier's kind. Spurious wake-ups do not occur today, but callers must tolerate them (as std).
// Fairness: waiters are queued FIFO; notify_one wakes the oldest one still waiting.
// Invariant: a waiter is queued before it releases the lock, so a notify issued after the
// condition changed (under the lock or after it) cannot be lost.
#pragma once

#include <sync/detail/notify_list.hpp>
#include <sync/mutex.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

namespace fiber {

using cv_status = std::cv_status;

class condition_variable_any {
 public:
  condition_variable_any() noexcept = default;
  condition_variable_any(const condition_variable_any&) = delete;
  condition_variable_any& operator=(const condition_variable_any&) = delete;

  void notify_one() noexcept { list_.notify_one(); }
  void notify_all() noexcept { list_.notify_all(); }

  template <class Lock>
  void wait(Lock& lock) {
    wait_steady(lock, detail::no_deadline, nullptr);
  }
  template <class Lock, class Pred>
  void wait(Lock& lock, Pred pred) {
    while (!pred()) wait(lock);
  }
  // Ends only when `t`'s own clock has reached t (a wait on system_clock or a user clock is
  // re-armed after a steady-clock timeout that came too early).
  template <class Lock, class Clock, class Duration>
  cv_status wait_until(Lock& lock, const std::chrono::time_point<Clock, Duration>& t) {
    const bool notified = detail::wait_until_clock(t, [&](detail::clock::time_point deadline) {
      return wait_steady(lock, deadline, nullptr) != detail::wake_reason::timeout;
    });
    return notified ? cv_status::no_timeout : cv_status::timeout;
  }
  template <class Lock, class Clock, class Duration, class Pred>
  bool wait_until(Lock& lock, const std::chrono::time_point<Clock, Duration>& t, Pred pred) {
    while (!pred())
      if (wait_until(lock, t) == cv_status::timeout) return pred();
    return true;
  }
  template <class Lock, class Rep, class Period>
  cv_status wait_for(Lock& lock, const std::chrono::duration<Rep, Period>& d) {
    return wait_steady(lock, detail::deadline_after(d), nullptr) == detail::wake_reason::timeout
               ? cv_status::timeout
               : cv_status::no_timeout;
  }
  template <class Lock, class Rep, class Period, class Pred>
  bool wait_for(Lock& lock, const std::chrono::duration<Rep, Period>& d, Pred pred) {
    return wait_until(lock, detail::deadline_after(d), std::move(pred));
  }

  // C++20 interruptible waits: return when pred() holds or a stop is requested on `stop`.
  template <class Lock, class Pred>
  bool wait(Lock& lock, std::stop_token stop, Pred pred) {
    while (!stop.stop_requested()) {
      if (pred()) return true;
      wait_steady(lock, detail::no_deadline, &stop);
    }
    return pred();
  }
  template <class Lock, class Clock, class Duration, class Pred>
  bool wait_until(Lock& lock, std::stop_token stop, const std::chrono::time_point<Clock, Duration>& t, Pred pred) {
    while (!stop.stop_requested()) {
      if (pred()) return true;
      if (wait_steady(lock, detail::deadline_at(t), &stop) == detail::wake_reason::timeout && detail::reached(t))
        return pred();
    }
    return pred();
  }
  template <class Lock, class Rep, class Period, class Pred>
  bool wait_for(Lock& lock, std::stop_token stop, const std::chrono::duration<Rep, Period>& d, Pred pred) {
    return wait_until(lock, std::move(stop), detail::deadline_after(d), std::move(pred));
  }

 private:
  template <class Lock>
  detail::wake_reason wait_steady(Lock& lock, detail::clock::time_point deadline, const std::stop_token* stop) {
    detail::waiter w;
    list_.enqueue(w);  // published before the lock is released: no lost notify
    lock.unlock();
    detail::wake_reason why;
    {
      detail::wait_scope ws(detail::wait_kind::condition_variable, this, 0, nullptr, deadline);
      why = list_.park(w, deadline, stop);
    }
    lock.lock();  // as std: the lock is held again on every return
    return why;
  }

  detail::notify_list list_;
};

// The std::unique_lock<fiber::mutex> flavour (std::condition_variable's interface).
class condition_variable {
 public:
  condition_variable() noexcept = default;
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;

  void notify_one() noexcept { cv_.notify_one(); }
  void notify_all() noexcept { cv_.notify_all(); }

  void wait(std::unique_lock<mutex>& lock) { cv_.wait(lock); }
  template <class Pred>
  void wait(std::unique_lock<mutex>& lock, Pred pred) {
    cv_.wait(lock, std::move(pred));
  }
  template <class Clock, class Duration>
  cv_status wait_until(std::unique_lock<mutex>& lock, const std::chrono::time_point<Clock, Duration>& t) {
    return cv_.wait_until(lock, t);
  }
  template <class Clock, class Duration, class Pred>
  bool wait_until(std::unique_lock<mutex>& lock, const std::chrono::time_point<Clock, Duration>& t, Pred pred) {
    return cv_.wait_until(lock, t, std::move(pred));
  }
  template <class Rep, class Period>
  cv_status wait_for(std::unique_lock<mutex>& lock, const std::chrono::duration<Rep, Period>& d) {
    return cv_.wait_for(lock, d);
  }
  template <class Rep, class Period, class Pred>
  bool wait_for(std::unique_lock<mutex>& lock, const std::chrono::duration<Rep, Period>& d, Pred pred) {
    return cv_.wait_for(lock, d, std::move(pred));
  }

 private:
  condition_variable_any cv_;
};

// Hands `lk` over and, when the calling fiber ends (or, on a plain OS thread, when the thread
// exits), unlocks it and notifies every waiter of `cond` — std::notify_all_at_thread_exit.
void notify_all_at_thread_exit(condition_variable& cond, std::unique_lock<mutex> lk);

}  // namespace fiber
