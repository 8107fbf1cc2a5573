// wait_list.hpp — the intrusive FIFO of parked waiters shared by every sync/ type.
//
// A `waiter` lives on the waiting fiber's (or thread's) stack for the duration of one wait. The
// owning primitive guards its list with a fiber::detail::spinlock; every field below except
// `token` is read and written only under that lock.
//
// Hand-off protocol (the invariant every sync/ type keeps):
//   waker:  under the lock, pop the waiter (linked = false), store the result it will see
//           (`status`, a value through `slot`, ownership of a lock), then unpark(token).
//           If unpark fails the waiter's park already ended (timeout / stop, or — for select —
//           another case won): the waker undoes what it stored and offers the wake to the next one.
//   waiter: after park() returns anything but `notified`, take the lock and unlink itself if
//           still linked. Since the waker holds the lock while it stores and undoes, the waiter
//           never leaves while a waker still touches its frame.
#pragma once

#include <fiber/detail/deadline.hpp>
#include <fiber/detail/park.hpp>

#include <chrono>
#include <cstdint>
#include <type_traits>

namespace fiber::detail {

struct waiter {
  park_token token;
  waiter* prev = nullptr;
  waiter* next = nullptr;
  bool linked = false;
  std::uint8_t status = 0;  // type-specific result set by the waker (0: nothing delivered)
  std::uintptr_t tag = 0;   // type-specific request (shared/exclusive, units wanted, ...)
  void* slot = nullptr;     // channels: where the value goes to / comes from
};

class wait_list {
 public:
  constexpr wait_list() noexcept = default;
  bool empty() const noexcept { return head_ == nullptr; }
  waiter* front() const noexcept { return head_; }

  void push_back(waiter* w) noexcept {
    w->next = nullptr;
    w->prev = tail_;
    if (tail_)
      tail_->next = w;
    else
      head_ = w;
    tail_ = w;
    w->linked = true;
  }

  void push_front(waiter* w) noexcept {
    w->prev = nullptr;
    w->next = head_;
    if (head_)
      head_->prev = w;
    else
      tail_ = w;
    head_ = w;
    w->linked = true;
  }

  waiter* pop_front() noexcept {
    waiter* w = head_;
    if (w) remove(w);
    return w;
  }

  // Unlinks `w` if it is still linked; true if it was.
  bool remove(waiter* w) noexcept {
    if (!w->linked) return false;
    if (w->prev)
      w->prev->next = w->next;
    else
      head_ = w->next;
    if (w->next)
      w->next->prev = w->prev;
    else
      tail_ = w->prev;
    w->prev = w->next = nullptr;
    w->linked = false;
    return true;
  }

 private:
  waiter* head_ = nullptr;
  waiter* tail_ = nullptr;
};

}  // namespace fiber::detail
