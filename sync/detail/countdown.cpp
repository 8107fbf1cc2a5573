// countdown.cpp — fiber::latch and fiber::wait_group (see latch.hpp, wait_group.hpp).
#include <sync/detail/mutex_core.hpp>
#include <sync/latch.hpp>
#include <sync/wait_group.hpp>

#include <stdexcept>

namespace fiber {

void latch::count_down(std::ptrdiff_t n) noexcept {
  if (n < 0) {
    detail::report_misuse("latch", "count_down(n) with n < 0");
    return;
  }
  std::ptrdiff_t c = count_.load(std::memory_order_relaxed);
  std::ptrdiff_t take;
  do {
    take = n;
    if (n > c) {
      detail::report_misuse("latch", "count_down(n) below zero");
      take = c;  // stops at zero: the waiters are released, the count never goes negative
    }
  } while (!count_.compare_exchange_weak(c, c - take, std::memory_order_acq_rel, std::memory_order_relaxed));
  n = take;
  if (c != n || n == 0) return;
  // Reached zero. A waiter checks the count under the guard before it queues, so taking the guard
  // here is enough for none to be missed.
  list_.guard().lock();
  list_.notify_all_locked();
  list_.guard().unlock();
}

void latch::wait() const noexcept {
  if (count_.load(std::memory_order_acquire) == 0) return;
  list_.guard().lock();
  while (count_.load(std::memory_order_acquire) != 0) {
    detail::waiter w;
    list_.enqueue_locked(w);
    list_.guard().unlock();
    {
      detail::wait_scope ws(detail::wait_kind::latch, this);
      list_.park(w, detail::no_deadline);
    }
    list_.guard().lock();
  }
  list_.guard().unlock();
}

void wait_group::add(std::ptrdiff_t n) {
  list_.guard().lock();
  if (count_ + n < 0) {
    list_.guard().unlock();
    throw std::logic_error("weft: fiber::wait_group: counter would become negative (more done() than add())");
  }
  count_ += n;
  if (count_ == 0) list_.notify_all_locked();
  list_.guard().unlock();
}

std::ptrdiff_t wait_group::count() const noexcept {
  list_.guard().lock();
  const std::ptrdiff_t c = count_;
  list_.guard().unlock();
  return c;
}

bool wait_group::wait_until_steady(detail::clock::time_point deadline) const noexcept {
  list_.guard().lock();
  while (count_ != 0) {
    detail::waiter w;
    list_.enqueue_locked(w);
    list_.guard().unlock();
    detail::wake_reason why;
    {
      detail::wait_scope ws(detail::wait_kind::wait_group, this, 0, nullptr, deadline);
      why = list_.park(w, deadline);
    }
    if (why == detail::wake_reason::timeout) {
      list_.guard().lock();
      const bool done = count_ == 0;
      list_.guard().unlock();
      return done;
    }
    list_.guard().lock();
  }
  list_.guard().unlock();
  return true;
}

}  // namespace fiber
