// semaphore_core.cpp — the waiting half of fiber::counting_semaphore (see semaphore.hpp).
#include <sync/detail/mutex_core.hpp>
#include <sync/semaphore.hpp>

#include <limits>

namespace fiber::detail {

bool semaphore_core::acquire_slow(clock::time_point deadline) noexcept {
  if (deadline != no_deadline && deadline <= clock::now()) {
    note_failed_try();  // try_acquire_for(0s) in a loop: let the releaser run
    return take(std::memory_order_acquire);
  }
  waiter w;
  guard_.lock();
  waiting_.fetch_add(1, std::memory_order_seq_cst);
  if (take(std::memory_order_seq_cst)) {
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    guard_.unlock();
    return true;
  }
  w.token = prepare_park();
  waiters_.push_back(&w);
  guard_.unlock();
  wait_scope ws(wait_kind::semaphore, this, 0, nullptr, deadline);
  if (park_until(w.token, deadline) == wake_reason::notified) return true;  // a unit was handed over
  guard_.lock();
  // Not linked any more: a release popped us and its unpark failed; it put the unit back itself.
  if (waiters_.remove(&w)) waiting_.fetch_sub(1, std::memory_order_relaxed);
  guard_.unlock();
  return false;
}

void semaphore_core::release(std::ptrdiff_t n, std::ptrdiff_t max) noexcept {
  if (n < 0) {
    report_misuse("counting_semaphore", "release(n) with n < 0");
    return;
  }
  std::ptrdiff_t c = count_.load(std::memory_order_relaxed);
  if (n > max - c) report_misuse("counting_semaphore", "release(n) beyond max()");  // counted anyway, as std's do
  do {
    if (n > std::numeric_limits<std::ptrdiff_t>::max() - c) return;  // would overflow: drop the excess
  } while (!count_.compare_exchange_weak(c, c + n, std::memory_order_seq_cst, std::memory_order_relaxed));
  if (waiting_.load(std::memory_order_seq_cst) != 0) hand_out();
}

// Gives free units to the oldest waiters, one each, while both last.
void semaphore_core::hand_out() noexcept {
  guard_.lock();
  while (!waiters_.empty() && take(std::memory_order_acquire)) {
    waiter* w = waiters_.pop_front();
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    // The unit travels with the wake-up (unpark is acq_rel); if the waiter already timed out, the
    // unit goes back to the count and the loop offers it to the next one.
    if (!unpark(w->token)) count_.fetch_add(1, std::memory_order_release);
  }
  guard_.unlock();
}

}  // namespace fiber::detail
