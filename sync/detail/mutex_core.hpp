// mutex_core.hpp — the lock word and FIFO wait queue behind every fiber:: mutex type.
//
// State word: 0 free, 1 locked, 2 locked and the wait queue may be non-empty.
//   lock():   CAS 0 -> 1 (the whole uncontended path: no syscall, no allocation); otherwise, under
//             the spinlock, mark 2, queue a waiter and park.
//   unlock(): CAS 1 -> 0; otherwise (2) pop the oldest waiter and hand it the lock directly — the
//             word stays "locked" (1 or 2), so no newcomer can barge in between.
// Invariants: the queue is non-empty only while the word is 2 (or a hand-off is in flight);
// a waiter woken with `notified` owns the lock; one whose park ended otherwise (timeout) does not
// and unlinks itself under the spinlock. A waker whose unpark fails offers the lock to the next.
#pragma once

#include <fiber/detail/spinlock.hpp>
#include <fiber/park.hpp>
#include <sync/detail/wait_list.hpp>

#include <atomic>
#include <cstdint>

namespace fiber::detail {

class mutex_core {
 public:
  constexpr mutex_core() noexcept = default;
  mutex_core(const mutex_core&) = delete;
  mutex_core& operator=(const mutex_core&) = delete;

  void lock() {
    std::uint32_t expected = 0;
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
    lock_slow(no_deadline);
  }
  bool try_lock() noexcept {
    std::uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed);
  }
  bool try_lock_until(clock::time_point deadline) {
    if (try_lock()) return true;
    return lock_slow(deadline);
  }
  void unlock() noexcept {
    std::uint32_t expected = 1;
    if (state_.compare_exchange_strong(expected, 0, std::memory_order_release, std::memory_order_relaxed)) return;
    unlock_slow();
  }
  bool is_locked() const noexcept { return state_.load(std::memory_order_relaxed) != 0; }

 private:
  bool lock_slow(clock::time_point deadline) noexcept;
  void unlock_slow() noexcept;

  std::atomic<std::uint32_t> state_{0};
  spinlock guard_;     // protects waiters_ and the 1 <-> 2 transitions of state_
  wait_list waiters_;  // FIFO of fibers/threads waiting for the lock
};

// Misuse reports (abort with a message naming the type and the calling fiber or thread).
[[noreturn]] void sync_misuse(const char* type, const char* what) noexcept;
std::uint64_t current_owner_id() noexcept;

}  // namespace fiber::detail
