// shared_core.cpp — the readers/writer lock behind fiber::shared_mutex (see shared_mutex.hpp).
//
// The writer's turn, step by step (it holds writers_ throughout, so claims never overlap):
//   1. under the guard: awaited_gen_ = the next generation, departing_ = 0, awaiting_ = true;
//   2. claim: readers_ += CLAIMED + one generation; `active` = readers inside at that moment;
//   3. under the guard: departing_ += active; park until the departures bring it to zero.
//      A reader leaving while CLAIMED decrements departing_ for its generation under the guard
//      (before or after step 3: the sum is what counts); step 1 happens before the claim, so no
//      departure of this generation can be missed, and a late departure of an abandoned claim
//      (a timed-out writer) carries an old generation and is ignored.
//   4. unlock (or a timeout in 3): readers_ -= CLAIMED — the readers that blocked behind the claim
//      become inside — then under the guard released_gen_ = this generation, wake them all.
// A blocked reader times out under the guard: if its claim was not released yet it leaves
// (readers_ -= 1); no other writer can claim meanwhile, since the releasing writer needs the guard
// before it lets writers_ go.
#include <sync/detail/mutex_core.hpp>
#include <sync/shared_mutex.hpp>

#include <utility>

namespace fiber::detail {

namespace {
// Wrap-safe "generation a is at or after b".
bool at_or_after(std::uint32_t a, std::uint32_t b) noexcept {
  return static_cast<std::int32_t>(a - b) >= 0;
}
}  // namespace

shared_core::~shared_core() {
  if (readers_.load(std::memory_order_relaxed) & (count_mask | claimed))
    report_misuse("shared_mutex", "destroyed while locked");
}

void shared_core::undo_unlock_shared() noexcept {
  readers_.fetch_add(1, std::memory_order_relaxed);  // the count was already 0: put it back
  report_misuse("shared_mutex", "unlock_shared() with no shared owner");
}

bool shared_core::try_lock_shared() noexcept {
  std::uint64_t r = readers_.load(std::memory_order_relaxed);
  while (!(r & claimed)) {
    if (readers_.compare_exchange_weak(r, r + 1, std::memory_order_acquire, std::memory_order_relaxed)) return true;
  }
  note_failed_try();
  return false;
}

bool shared_core::wait_for_release(std::uint32_t gen, clock::time_point deadline) noexcept {
  spinlock& g = blocked_readers_.guard();
  wait_scope ws;
  g.lock();
  while (!at_or_after(released_gen_, gen)) {
    waiter w;
    blocked_readers_.enqueue_locked(w);
    g.unlock();
    ws.arm(wait_kind::shared_mutex_reader, this, 0, nullptr, deadline);
    const wake_reason why = blocked_readers_.park(w, deadline);
    g.lock();
    if (why == wake_reason::timeout && !at_or_after(released_gen_, gen)) {
      readers_.fetch_sub(1, std::memory_order_relaxed);  // leave: the claim's writer never counts us
      g.unlock();
      return false;
    }
  }
  g.unlock();
  return true;
}

void shared_core::depart(std::uint32_t gen) noexcept {
  spinlock& g = blocked_readers_.guard();
  park_token wake;
  g.lock();
  if (awaiting_ && awaited_gen_ == gen && --departing_ == 0) wake = std::exchange(writer_token_, park_token{});
  g.unlock();
  if (wake) unpark(wake);
}

bool shared_core::try_lock() noexcept {
  if (!writers_.try_lock()) return false;  // counts the failure itself
  std::uint64_t r = readers_.load(std::memory_order_relaxed);
  // Only with nobody inside: then no departures are awaited and no bookkeeping is needed.
  while ((r & (count_mask | claimed)) == 0) {
    if (readers_.compare_exchange_weak(r, r + claimed + generation_unit, std::memory_order_acquire,
                                       std::memory_order_relaxed))
      return true;
  }
  writers_.unlock();
  note_failed_try();
  return false;
}

bool shared_core::lock_until(clock::time_point deadline) noexcept {
  wait_scope ws;  // armed only when another writer holds the lock (the fast path stays one CAS)
  if (!writers_.try_lock_fast()) {
    ws.arm(wait_kind::shared_mutex_writer, this, 0, nullptr, deadline);
    if (deadline == no_deadline) {
      writers_.lock();
    } else if (!writers_.try_lock_until(deadline)) {
      return false;
    }
  }
  spinlock& g = blocked_readers_.guard();
  const std::uint32_t gen = generation(readers_.load(std::memory_order_relaxed)) + 1;  // writers_ held: stable
  g.lock();
  awaited_gen_ = gen;
  departing_ = 0;
  awaiting_ = true;
  g.unlock();
  const std::uint64_t old = readers_.fetch_add(claimed + generation_unit, std::memory_order_acquire);
  if (wait_for_departures(old & count_mask, deadline)) return true;
  release_claim();  // timed out: let in the readers that blocked behind us, then give up
  writers_.unlock();
  return false;
}

bool shared_core::wait_for_departures(std::uint64_t active, clock::time_point deadline) noexcept {
  spinlock& g = blocked_readers_.guard();
  wait_scope ws;
  g.lock();
  departing_ += static_cast<std::int64_t>(active);
  while (departing_ != 0) {
    writer_token_ = prepare_park();
    const park_token token = writer_token_;
    g.unlock();
    ws.arm(wait_kind::shared_mutex_writer, this, 0, nullptr, deadline);
    const wake_reason why = park_until(token, deadline);
    g.lock();
    if (why == wake_reason::timeout && departing_ != 0) {
      writer_token_ = {};
      awaiting_ = false;
      g.unlock();
      return false;
    }
  }
  awaiting_ = false;
  // The departures happened-before their guard sections, which happened-before ours.
  g.unlock();
  return true;
}

void shared_core::release_claim() noexcept {
  const std::uint64_t old = readers_.fetch_sub(claimed, std::memory_order_release);
  spinlock& g = blocked_readers_.guard();
  g.lock();
  awaiting_ = false;
  released_gen_ = generation(old);
  blocked_readers_.notify_all_locked();
  g.unlock();
}

void shared_core::unlock() noexcept {
  const std::uint64_t r = readers_.load(std::memory_order_relaxed);
  if (!(r & claimed) || !writers_.is_locked()) {
    // Undefined in std. pthread_rwlock_unlock (behind std::shared_mutex) releases a read lock too.
    report_misuse("shared_mutex", "unlock() while not exclusively locked");
    if (r & count_mask) unlock_shared();
    return;
  }
  release_claim();
  writers_.unlock();
}

}  // namespace fiber::detail
