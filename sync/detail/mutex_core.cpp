// mutex_core.cpp — slow paths of the fiber:: mutex lock word (protocol in mutex_core.hpp).
#include <sync/detail/mutex_core.hpp>

#include <fiber/detail/assert.hpp>
#include <fiber/detail/fiber_control.hpp>
#include <fiber/this_fiber.hpp>

#include <cstdio>
#include <cstdlib>

namespace fiber::detail {

namespace {

enum wake_status : std::uint8_t { not_woken = 0, woken_to_compete = 1, handed_off = 2 };

constexpr int max_spins = 4;         // rounds, as Go's active_spin
constexpr int pauses_per_spin = 30;  // cpu_relax() per round (Go: procyield(30))

std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count();
}

constexpr std::int64_t threshold_ns =
    std::chrono::duration_cast<std::chrono::nanoseconds>(mutex_core::starvation_threshold).count();

}  // namespace

bool mutex_core::can_spin(int spins) const noexcept {
  if (spins >= max_spins) return false;
  return holder_running_elsewhere(holder_.load(std::memory_order_relaxed), holder_cpu_.load(std::memory_order_relaxed));
}

bool mutex_core::lock_slow(clock::time_point deadline) noexcept {
  bool awake = false;           // we own the WOKEN flag (woken by unlock, or announced while spinning)
  bool is_starving = false;     // we have waited longer than the threshold
  std::int64_t wait_start = 0;  // first park (0: never parked)
  int spins = 0;
  wait_scope ws;  // armed at the first park: fiber::dump(), the deadlock check
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    // Free, not reserved, not kept for starving waiters: take it (barging).
    if (!(s & (locked | starving | reserved))) {
      const std::uint32_t next = (s | locked) & ~(awake ? woken : 0u);
      if (state_.compare_exchange_weak(s, next, std::memory_order_acquire, std::memory_order_relaxed)) return true;
      continue;
    }
    if (!(s & starving) && can_spin(spins)) {
      // Tell unlock() that someone is awake, so it does not wake a parked waiter for nothing.
      if (!awake && !(s & woken) && (s & queued) &&
          state_.compare_exchange_weak(s, s | woken, std::memory_order_relaxed, std::memory_order_relaxed)) {
        awake = true;
      }
      for (int i = 0; i < pauses_per_spin; ++i) cpu_relax();
      ++spins;
      s = state_.load(std::memory_order_relaxed);
      continue;
    }
    if (deadline != no_deadline && clock::now() >= deadline) {
      if (awake) state_.fetch_and(~woken, std::memory_order_relaxed);
      return false;
    }

    // Park. Under the guard: the lock must still be held or reserved when we mark QUEUED, so that
    // its release takes the slow path and finds us.
    waiter w;
    guard_.lock();
    s = state_.load(std::memory_order_relaxed);
    if (!(s & (locked | starving | reserved))) {
      guard_.unlock();
      continue;
    }
    std::uint32_t next = s | queued;
    if (is_starving && (s & (locked | reserved))) next |= starving;
    if (awake) next &= ~woken;
    if (!state_.compare_exchange_strong(s, next, std::memory_order_relaxed, std::memory_order_relaxed)) {
      guard_.unlock();
      continue;
    }
    awake = false;
    w.token = prepare_park();
    w.status = not_woken;
    if (wait_start == 0) {
      wait_start = steady_ns();
      w.tag = static_cast<std::uintptr_t>(wait_start);
      waiters_.push_back(&w);
    } else {
      w.tag = static_cast<std::uintptr_t>(wait_start);
      waiters_.push_front(&w);  // woken before and lost the race: keep our place
    }
    guard_.unlock();

    ws.arm_record(w.token.who->wait, wait_kind::mutex, this, 0, nullptr, deadline);
    if (deadlock_check_enabled) check_wait_cycle(w.token.who->wait);
    if (park_until(w.token, deadline) == wake_reason::notified) {
      spins = 0;
      is_starving = is_starving || steady_ns() - wait_start > threshold_ns;
      s = state_.load(std::memory_order_relaxed);
      WEFT_ASSERT(w.status == handed_off || w.status == woken_to_compete, "a notified waiter knows why");
      if (w.status == handed_off) {
        // Starving mode reserved the lock for us: take it, unless a try_lock took it over first.
        while (s & reserved) {
          if (state_.compare_exchange_weak(s, (s & ~reserved) | locked, std::memory_order_acquire,
                                           std::memory_order_relaxed))
            return true;
        }
        is_starving = true;  // taken over: queue again, at the front
        continue;
      }
      awake = true;  // woken to compete; we own WOKEN
      continue;
    }
    // Timed out. Still linked: unlink (and clear QUEUED/STARVING if we were the last). Not linked:
    // an unlock popped us and its unpark failed; it passes the lock or the wake-up on itself.
    guard_.lock();
    if (waiters_.remove(&w) && waiters_.empty()) state_.fetch_and(~(queued | starving), std::memory_order_relaxed);
    guard_.unlock();
    return false;
  }
}

void mutex_core::unlock_slow() noexcept {
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (s & starving) {
      // Reserve the lock for the oldest waiter: lock() callers cannot barge in; only a try_lock may
      // take it over before the waiter runs.
      guard_.lock();
      s = state_.load(std::memory_order_relaxed);
      if (!(s & starving)) {
        guard_.unlock();
        continue;
      }
      waiter* w = waiters_.pop_front();  // non-null: STARVING implies QUEUED
      std::uint32_t clear = 0;
      if (waiters_.empty()) {
        clear = queued | starving;
      } else if (steady_ns() - static_cast<std::int64_t>(w->tag) < threshold_ns) {
        clear = starving;  // it did not wait long: back to normal
      }
      w->status = handed_off;
      const park_token t = w->token;  // w may vanish once the guard is released (if it timed out)
      s = state_.load(std::memory_order_relaxed);
      // LOCKED -> RESERVED in one step; releases our critical section to whoever takes it.
      while (!state_.compare_exchange_weak(s, ((s & ~locked) | reserved) & ~clear, std::memory_order_release,
                                           std::memory_order_relaxed)) {
      }
      guard_.unlock();
      if (unpark(t)) return;
      // It had timed out: take the reservation back (unless a try_lock took the lock over, which
      // then holds it and will release it itself) and serve the next waiter.
      s = state_.load(std::memory_order_relaxed);
      for (;;) {
        if (!(s & reserved)) return;
        if (state_.compare_exchange_weak(s, (s & ~reserved) | locked, std::memory_order_acquire,
                                         std::memory_order_relaxed))
          break;
      }
      s |= locked;
      s &= ~reserved;
      if (!(s & starving)) {
        if (!state_.compare_exchange_strong(s, s & ~locked, std::memory_order_release, std::memory_order_relaxed)) {
          continue;
        }
        wake_one(s & ~locked);
        return;
      }
      continue;
    }
    if (!state_.compare_exchange_weak(s, s & ~locked, std::memory_order_release, std::memory_order_relaxed)) continue;
    wake_one(s & ~locked);
    return;
  }
}

// Normal mode, after the lock was released: wake the oldest waiter to compete, unless nobody waits,
// someone is already awake, the lock was taken or reserved again (its holder will wake one) or a
// waiter made it starving (the next unlock serves the queue).
void mutex_core::wake_one(std::uint32_t s) noexcept {
  for (;;) {
    if (!(s & queued) || (s & (woken | locked | starving | reserved))) return;
    guard_.lock();
    s = state_.load(std::memory_order_relaxed);
    if (!(s & queued) || (s & (woken | locked | starving | reserved))) {
      guard_.unlock();
      return;
    }
    if (!state_.compare_exchange_strong(s, s | woken, std::memory_order_relaxed, std::memory_order_relaxed)) {
      guard_.unlock();
      continue;
    }
    waiter* w = waiters_.pop_front();
    if (waiters_.empty()) state_.fetch_and(~queued, std::memory_order_relaxed);
    w->status = woken_to_compete;
    const park_token t = w->token;
    guard_.unlock();
    if (unpark(t)) return;
    // It had timed out and left: give the wake-up to the next waiter.
    s = state_.fetch_and(~woken, std::memory_order_relaxed) & ~woken;
  }
}

std::uint64_t current_owner_id() noexcept {
  return this_fiber::get_id().value();
}

}  // namespace fiber::detail
