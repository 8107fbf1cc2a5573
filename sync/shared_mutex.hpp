// shared_mutex.hpp — fiber::shared_mutex and fiber::shared_timed_mutex (readers/writer locks).
//
//   fiber::shared_mutex m;
//   { std::shared_lock r(m); read(table); }      // many readers at once
//   { std::unique_lock w(m); write(table); }     // one writer, no readers
//
// Same interface and semantics as the std:: twins (and, like <shared_mutex>, this header makes
// std::shared_lock available); a contended call parks a fiber or blocks a plain OS thread.
// Design (Go's sync.RWMutex, on weft's park/unpark): writers exclude each other through a
// fiber::mutex core (barging, brief spinning only while the holder runs, FIFO reservation once a
// writer has waited 1 ms). The writer holding it then *claims* the lock: new readers block from
// that moment, and the writer waits until the readers already inside have left. lock_shared and
// unlock_shared are one atomic add when no writer claims the lock.
// Fairness: a waiting writer is never starved by a stream of readers (they queue behind its
// claim); readers that arrived during a writer's turn are all let in when it unlocks, before the
// next writer can claim. A try_lock / try_lock_shared that keeps failing on a fiber yields it.
// Timed forms: *_for measure on steady_clock; *_until(t) fail only once t's own clock has reached t.
// Misuse (undefined in std; one line on stderr naming the caller, then glibc's behaviour): unlock()
// while only shared-locked releases the shared lock (as pthread_rwlock_unlock), unlock() or
// unlock_shared() of an unlocked mutex does nothing, destroying a locked mutex is reported.
#pragma once

#include <fiber/detail/spinlock.hpp>
#include <fiber/detail/park.hpp>
#include <sync/detail/mutex_core.hpp>
#include <sync/detail/notify_list.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <shared_mutex>  // std::shared_lock, as <shared_mutex> itself provides it

namespace fiber {

namespace detail {

// readers_ word: bits 0..30 readers (inside, or blocked behind a claim), bit 31 CLAIMED (a writer
// holds or waits for the lock), bits 32..63 the generation of the latest claim. A reader that saw
// CLAIMED in its fetch_add knows which claim it waits for; a reader leaving while CLAIMED is one
// the claiming writer waits for. Everything below readers_ is protected by guard_.
class shared_core {
 public:
  constexpr shared_core() noexcept = default;
  shared_core(const shared_core&) = delete;
  shared_core& operator=(const shared_core&) = delete;
  ~shared_core();

  void lock_shared() noexcept {
    const std::uint64_t old = readers_.fetch_add(1, std::memory_order_acquire);
    if (old & claimed) (void)wait_for_release(generation(old), no_deadline);
  }
  bool try_lock_shared() noexcept;
  bool lock_shared_until(clock::time_point deadline) noexcept {
    const std::uint64_t old = readers_.fetch_add(1, std::memory_order_acquire);
    return !(old & claimed) || wait_for_release(generation(old), deadline);
  }
  void unlock_shared() noexcept {
    const std::uint64_t old = readers_.fetch_sub(1, std::memory_order_release);
    if ((old & count_mask) == 0) return undo_unlock_shared();
    if (old & claimed) depart(generation(old));
  }

  void lock() noexcept { (void)lock_until(no_deadline); }
  bool try_lock() noexcept;
  bool lock_until(clock::time_point deadline) noexcept;
  void unlock() noexcept;

  // For fiber::dump() and the deadlock check: the writer holding (or claiming) the lock, if any,
  // and how many readers are inside or queued.
  const mutex_core& writers() const noexcept { return writers_; }
  std::uint64_t reader_count() const noexcept { return readers_.load(std::memory_order_relaxed) & count_mask; }

 private:
  static constexpr std::uint64_t count_mask = (std::uint64_t{1} << 31) - 1;
  static constexpr std::uint64_t claimed = std::uint64_t{1} << 31;
  static constexpr std::uint64_t generation_unit = std::uint64_t{1} << 32;
  static std::uint32_t generation(std::uint64_t word) noexcept { return static_cast<std::uint32_t>(word >> 32); }

  bool wait_for_release(std::uint32_t gen, clock::time_point deadline) noexcept;
  void depart(std::uint32_t gen) noexcept;
  bool wait_for_departures(std::uint64_t active, clock::time_point deadline) noexcept;
  void release_claim() noexcept;
  void undo_unlock_shared() noexcept;

  std::atomic<std::uint64_t> readers_{0};
  mutex_core writers_;              // held by the writer for its whole turn
  notify_list blocked_readers_;     // its guard protects the fields below
  std::uint32_t released_gen_ = 0;  // the latest claim whose writer has let its readers in
  std::uint32_t awaited_gen_ = 0;   // the claim whose departures are being counted...
  bool awaiting_ = false;           // ...while this is set
  std::int64_t departing_ = 0;      // readers the claiming writer still waits for
  park_token writer_token_;         // the claiming writer, parked until departing_ reaches 0
};

}  // namespace detail

class shared_mutex {
 public:
  constexpr shared_mutex() noexcept = default;
  shared_mutex(const shared_mutex&) = delete;
  shared_mutex& operator=(const shared_mutex&) = delete;
  ~shared_mutex() = default;

  void lock() { core_.lock(); }
  bool try_lock() noexcept { return core_.try_lock(); }
  void unlock() noexcept { core_.unlock(); }
  void lock_shared() { core_.lock_shared(); }
  bool try_lock_shared() noexcept { return core_.try_lock_shared(); }
  void unlock_shared() noexcept { core_.unlock_shared(); }

 protected:
  detail::shared_core core_;
};

class shared_timed_mutex : public shared_mutex {
 public:
  constexpr shared_timed_mutex() noexcept = default;

  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return core_.lock_until(detail::deadline_after(d));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& t) {
    return detail::wait_until_clock(t, [this](detail::clock::time_point dl) { return core_.lock_until(dl); });
  }
  template <class Rep, class Period>
  bool try_lock_shared_for(const std::chrono::duration<Rep, Period>& d) {
    return core_.lock_shared_until(detail::deadline_after(d));
  }
  template <class Clock, class Duration>
  bool try_lock_shared_until(const std::chrono::time_point<Clock, Duration>& t) {
    return detail::wait_until_clock(t, [this](detail::clock::time_point dl) { return core_.lock_shared_until(dl); });
  }
};

}  // namespace fiber
