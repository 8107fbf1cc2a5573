// mutex_core.cpp — slow paths of the fiber:: mutex lock word (protocol in mutex_core.hpp).
#include <sync/detail/mutex_core.hpp>

#include <fiber/this_fiber.hpp>

#include <cstdio>
#include <cstdlib>

namespace fiber::detail {

bool mutex_core::lock_slow(clock::time_point deadline) noexcept {
  guard_.lock();
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (s == 0) {
      if (state_.compare_exchange_weak(s, 1, std::memory_order_acquire, std::memory_order_relaxed)) {
        guard_.unlock();
        return true;
      }
      continue;
    }
    if (s == 1 && !state_.compare_exchange_weak(s, 2, std::memory_order_relaxed, std::memory_order_relaxed)) continue;
    break;
  }
  waiter w;
  w.token = prepare_park();
  waiters_.push_back(&w);
  guard_.unlock();
  if (park_until(w.token, deadline) == wake_reason::notified) return true;  // handed the lock
  guard_.lock();
  if (waiters_.remove(&w) && waiters_.empty()) {
    std::uint32_t two = 2;
    state_.compare_exchange_strong(two, 1, std::memory_order_relaxed, std::memory_order_relaxed);
  }
  // Not linked any more: a waker popped us and its unpark failed; it passes the lock on.
  guard_.unlock();
  return false;
}

void mutex_core::unlock_slow() noexcept {
  guard_.lock();
  for (;;) {
    waiter* w = waiters_.pop_front();
    if (!w) {
      state_.store(0, std::memory_order_release);
      guard_.unlock();
      return;
    }
    // The lock stays held: ownership passes to w. Keep 2 while others still wait.
    state_.store(waiters_.empty() ? 1 : 2, std::memory_order_relaxed);
    const park_token t = w->token;  // w may vanish once the guard is released (if it timed out)
    guard_.unlock();
    if (unpark(t)) return;
    guard_.lock();  // w timed out first: the lock is still ours to pass on
  }
}

void sync_misuse(const char* type, const char* what) noexcept {
  std::fprintf(stderr, "weft: misuse of fiber::%s: %s (caller: %s)\n", type, what, current_name_for_diagnostics());
  std::fflush(stderr);
  std::abort();
}

std::uint64_t current_owner_id() noexcept { return this_fiber::get_id().value(); }

}  // namespace fiber::detail
