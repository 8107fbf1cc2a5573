// countdown.cpp — fiber::latch and fiber::wait_group (see latch.hpp, wait_group.hpp).
#include <sync/detail/mutex_core.hpp>
#include <sync/latch.hpp>
#include <sync/wait_group.hpp>

#include <stdexcept>

namespace fiber {

void latch::count_down(std::ptrdiff_t n) noexcept {
  list_.guard().lock();
  if (n < 0 || n > count_) {
    list_.guard().unlock();
    detail::sync_misuse("latch", "count_down(n) below zero");
  }
  count_ -= n;
  if (count_ == 0) list_.notify_all_locked();
  list_.guard().unlock();
}

bool latch::try_wait() const noexcept {
  list_.guard().lock();
  const bool done = count_ == 0;
  list_.guard().unlock();
  return done;
}

void latch::wait() const noexcept {
  list_.guard().lock();
  while (count_ != 0) {
    detail::waiter w;
    list_.enqueue_locked(w);
    list_.guard().unlock();
    list_.park(w, detail::no_deadline);
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
    if (list_.park(w, deadline) == detail::wake_reason::timeout) {
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
