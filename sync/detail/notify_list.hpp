// notify_list.hpp — a guarded FIFO of parked waiters with notify_one / notify_all: the body of
// condition variables, latch, barrier, wait_group and future readiness.
//
// Waiters enqueue (prepare_park + push, under the guard) *before* releasing whatever protects the
// condition they test, so a notify that follows the state change always finds them: no lost
// wake-ups. notify_one skips waiters whose park already ended (timeout, stop) so the wake goes to
// one that is still waiting.
#pragma once

#include <fiber/detail/spinlock.hpp>
#include <fiber/detail/park.hpp>
#include <fiber/detail/wait_record.hpp>
#include <sync/detail/wait_list.hpp>

#include <stop_token>

namespace fiber::detail {

class notify_list {
 public:
  constexpr notify_list() noexcept = default;
  notify_list(const notify_list&) = delete;
  notify_list& operator=(const notify_list&) = delete;

  // Announce and publish `w` (the caller then releases its own lock and calls park()).
  void enqueue(waiter& w) noexcept {
    guard_.lock();
    enqueue_locked(w);
    guard_.unlock();
  }
  void enqueue_locked(waiter& w) noexcept {
    w.status = 0;
    w.token = prepare_park();
    list_.push_back(&w);
  }
  // Parks on `w`; unlinks it when the park ended for another reason than a notify.
  wake_reason park(waiter& w, clock::time_point deadline, const std::stop_token* stop = nullptr) noexcept;
  // Wakes the oldest waiter still parked; false if there was none.
  bool notify_one() noexcept;
  // Wakes every waiter queued now; returns how many were woken.
  unsigned notify_all() noexcept;
  // The same with guard() already held by the caller (which keeps its own state under it).
  bool notify_one_locked() noexcept;
  unsigned notify_all_locked() noexcept;

  bool empty_locked() const noexcept { return list_.empty(); }
  spinlock& guard() noexcept { return guard_; }

 private:
  spinlock guard_;
  wait_list list_;
};

}  // namespace fiber::detail
