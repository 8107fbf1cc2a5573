// spinlock.hpp — a tiny test-and-test-and-set lock for critical sections of a few instructions
// (queue links, waiter lists). Never held across a park, a switch or a syscall.
//
// The holder cannot be switched out by weft while it holds the lock, but its OS thread can be
// preempted by the kernel: after a short spin a waiter yields its thread instead of burning the
// rest of its time slice against a holder that is not running.
#pragma once

#include <atomic>
#include <thread>

namespace fiber::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class spinlock {
 public:
  constexpr spinlock() noexcept = default;
  spinlock(const spinlock&) = delete;
  spinlock& operator=(const spinlock&) = delete;

  void lock() noexcept {
    if (!locked_.exchange(true, std::memory_order_acquire)) return;
    lock_contended();
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  void lock_contended() noexcept {
    for (unsigned spins = 0;; ++spins) {
      if (spins < 128) {
        cpu_relax();
      } else {
        std::this_thread::yield();  // the holder's thread was probably preempted
      }
      if (!locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire)) return;
    }
  }

  std::atomic<bool> locked_{false};
};

}  // namespace fiber::detail
