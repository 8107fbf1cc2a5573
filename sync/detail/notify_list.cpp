// notify_list.cpp — park / notify for the guarded waiter FIFO (see notify_list.hpp).
#include <sync/detail/notify_list.hpp>

namespace fiber::detail {

wake_reason notify_list::park(waiter& w, clock::time_point deadline, const std::stop_token* stop) noexcept {
  wake_reason why = stop ? park_until(w.token, deadline, *stop) : park_until(w.token, deadline);
  if (why != wake_reason::notified) {
    guard_.lock();
    list_.remove(&w);  // may already be gone: a notifier popped it and lost the unpark race
    guard_.unlock();
  }
  return why;
}

bool notify_list::notify_one_locked() noexcept {
  while (waiter* w = list_.pop_front()) {
    w->status = 1;
    if (unpark(w->token)) return true;
  }
  return false;
}

unsigned notify_list::notify_all_locked() noexcept {
  unsigned n = 0;
  while (waiter* w = list_.pop_front()) {
    w->status = 1;
    n += unpark(w->token) ? 1 : 0;
  }
  return n;
}

bool notify_list::notify_one() noexcept {
  guard_.lock();
  bool woke = notify_one_locked();
  guard_.unlock();
  return woke;
}

unsigned notify_list::notify_all() noexcept {
  guard_.lock();
  unsigned n = notify_all_locked();
  guard_.unlock();
  return n;
}

}  // namespace fiber::detail
