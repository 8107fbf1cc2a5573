// mutex_core.hpp — the lock word and wait queue behind every fiber:: mutex type.
//
// A Go-style mutex (sync.Mutex's design, on weft's park/unpark):
//   normal mode   — whoever finds the lock free takes it (barging): unlock() releases the word and
//                   wakes the oldest waiter to *compete* for it, so the lock is never reserved for a
//                   fiber that has not run yet (a try_lock from std::lock's back-off loop succeeds
//                   as soon as the lock is free). A waiter may spin briefly first, but only while
//                   the holder is running on another worker and its own worker has nothing else to
//                   run — never against a holder that is switched out.
//   starving mode — entered by a waiter that has waited more than starvation_threshold (1 ms):
//                   unlock() *reserves* the lock for the oldest waiter (FIFO) and wakes it;
//                   newcomers calling lock() queue behind, nobody spins. Left when the served
//                   waiter is the last one or had waited less than the threshold.
// A reservation is not a hold: until the reserved waiter runs and takes it, a try_lock may take the
// lock over (the waiter then requeues at the front, keeping its seniority). Without that, std::lock's
// lock / try_lock / back-off rounds would fail every try_lock against owners that were handed a
// lock but have not run yet, and convoy forever once every lock is starving. A waiter that is woken
// in normal mode and loses the race requeues at the front too.
//
// State word bits: LOCKED, WOKEN (a woken or spinning waiter is on its way: unlock need not wake
// another), STARVING, QUEUED (the wait list is non-empty), RESERVED (released to a woken waiter
// that has not taken it yet). QUEUED and STARVING change only under guard_, which also protects
// the list; LOCKED, WOKEN and RESERVED also change by CAS outside it.
// Invariants: STARVING implies QUEUED; RESERVED implies !LOCKED; exactly one CAS turns a free or
// reserved word into LOCKED. The spinlock guard_ is held for a few instructions only, never across
// a park.
#pragma once

#include <fiber/detail/spinlock.hpp>
#include <fiber/detail/park.hpp>
#include <fiber/detail/wait_record.hpp>
#include <sync/detail/misuse.hpp>
#include <sync/detail/wait_list.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace fiber::detail {

class mutex_core {
 public:
  static constexpr std::uint32_t locked = 1, woken = 2, starving = 4, queued = 8, reserved = 16;
  static constexpr auto starvation_threshold = std::chrono::milliseconds(1);

  constexpr mutex_core() noexcept = default;
  mutex_core(const mutex_core&) = delete;
  mutex_core& operator=(const mutex_core&) = delete;

  void lock() {
    std::uint32_t expected = 0;
    if (!state_.compare_exchange_strong(expected, locked, std::memory_order_acquire, std::memory_order_relaxed))
      lock_slow(no_deadline);
    note_holder();
  }
  // Takes a free lock, or one reserved for a waiter that has not run yet (see above).
  bool try_lock() noexcept {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    while (!(s & locked) && (!(s & starving) || (s & reserved))) {
      if (state_.compare_exchange_weak(s, (s | locked) & ~reserved, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        note_holder();
        return true;
      }
    }
    note_failed_try();
    return false;
  }
  // One CAS on a free lock; no failure accounting (try_lock's yield-after-failures), no waiting.
  bool try_lock_fast() noexcept {
    std::uint32_t expected = 0;
    if (!state_.compare_exchange_strong(expected, locked, std::memory_order_acquire, std::memory_order_relaxed))
      return false;
    note_holder();
    return true;
  }
  bool try_lock_until(clock::time_point deadline) {
    std::uint32_t expected = 0;
    if (!state_.compare_exchange_strong(expected, locked, std::memory_order_acquire, std::memory_order_relaxed) &&
        !lock_slow(deadline))
      return false;
    note_holder();
    return true;
  }
  void unlock() noexcept {
    std::uint32_t expected = locked;
    if (state_.compare_exchange_strong(expected, 0, std::memory_order_release, std::memory_order_relaxed)) return;
    unlock_slow();
  }
  bool is_locked() const noexcept { return (state_.load(std::memory_order_relaxed) & locked) != 0; }
  bool is_locked_or_reserved() const noexcept {
    return (state_.load(std::memory_order_relaxed) & (locked | reserved)) != 0;
  }
  // The last holder recorded (meaningful while is_locked()): the holding fiber_control*, or the
  // holding OS thread's parker; for diagnostics, the deadlock check and misuse checks.
  const void* holder_who() const noexcept { return holder_.load(std::memory_order_relaxed); }

 private:
  bool lock_slow(clock::time_point deadline) noexcept;
  void unlock_slow() noexcept;
  void wake_one(std::uint32_t s) noexcept;
  bool can_spin(int spins) const noexcept;
  void note_holder() noexcept {
    const holder h = current_holder();
    holder_.store(h.who, std::memory_order_relaxed);
    holder_cpu_.store(h.cpu, std::memory_order_relaxed);
  }

  std::atomic<std::uint32_t> state_{0};
  std::atomic<std::uint32_t> holder_cpu_{holder::no_cpu};  // where holder_ runs (spin decisions)
  std::atomic<const void*> holder_{nullptr};               // who took the lock last
  spinlock guard_;                                         // protects waiters_, QUEUED, STARVING
  wait_list waiters_;  // tag: when the waiter first parked (steady ns); status: how it was woken
};

std::uint64_t current_owner_id() noexcept;  // the calling fiber's (or thread's) id, for owner checks

}  // namespace fiber::detail
