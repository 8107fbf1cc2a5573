// semaphore_core.cpp — count + FIFO hand-off behind fiber::counting_semaphore (see semaphore.hpp).
#include <sync/detail/mutex_core.hpp>
#include <sync/semaphore.hpp>

namespace fiber::detail {

bool semaphore_core::try_acquire() noexcept {
  guard_.lock();
  const bool ok = count_ > 0;
  if (ok) --count_;
  guard_.unlock();
  return ok;
}

bool semaphore_core::acquire_until(clock::time_point deadline) noexcept {
  guard_.lock();
  if (count_ > 0) {
    --count_;
    guard_.unlock();
    return true;
  }
  waiter w;
  w.token = prepare_park();
  waiters_.push_back(&w);
  guard_.unlock();
  if (park_until(w.token, deadline) == wake_reason::notified) return true;  // a unit was handed over
  guard_.lock();
  waiters_.remove(&w);
  guard_.unlock();
  return false;
}

void semaphore_core::release(std::ptrdiff_t n, std::ptrdiff_t max) noexcept {
  if (n < 0) sync_misuse("counting_semaphore", "release(n) with n < 0");
  guard_.lock();
  while (n > 0) {
    waiter* w = waiters_.pop_front();
    if (!w) break;
    if (unpark(w->token)) --n;  // one unit handed straight to the oldest waiter
  }
  if (n > max - count_) {
    guard_.unlock();
    sync_misuse("counting_semaphore", "release(n) would exceed max()");
  }
  count_ += n;
  guard_.unlock();
}

}  // namespace fiber::detail
