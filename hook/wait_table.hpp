// wait_table.hpp — fibers parked by the pthread hooks, hashed by the address they wait on (a mutex or
// a condition variable).
//
// Owns: 64 buckets, each a fiber::detail::spinlock guarding a sync/detail wait_list of waiters, and a
// count of linked waiters so that the common case (nobody parked anywhere) costs one load. A waiter's
// `tag` holds the address it waits on; waiters of different addresses share a bucket.
// Invariants (wait_list.hpp's hand-off protocol): a waiter lives on its parked fiber's stack and is
// only touched under its bucket's lock; it is enqueued before the waiter's last check of the condition
// (an unlock or signal after that check finds it); a waker unlinks a waiter before unparking it and
// never touches it after a successful unpark; a waiter whose park ended otherwise (timeout) unlinks
// itself with remove(), and if a waker got there first, that waker's unpark failed and it went on to
// the next waiter of the same address — so no wake-up is lost. A waiter that turns out not to need
// its park (the mutex was free after all, the unlock failed) leaves with withdraw(): every
// prepare_park() must end in a park (park.hpp; WEFT_ASSERT checks it in debug and sanitizer builds).
#pragma once

#include <atomic>
#include <cstdint>
#include <fiber/detail/park.hpp>
#include <fiber/detail/spinlock.hpp>
#include <sync/detail/wait_list.hpp>

namespace weft::hook::detail {

class wait_table {
 public:
  using waiter = fiber::detail::waiter;

  constexpr wait_table() noexcept = default;

  // Cheap test for the common case: no fiber parked anywhere in this table.
  bool empty() const noexcept { return waiting_.load(std::memory_order_seq_cst) == 0; }

  // Links `w` (its token already prepared) as a waiter on `key`.
  void enqueue(waiter& w, const void* key) noexcept {
    w.tag = reinterpret_cast<std::uintptr_t>(key);
    bucket& b = bucket_for(w.tag);
    b.lock.lock();
    b.list.push_back(&w);
    waiting_.fetch_add(1, std::memory_order_seq_cst);
    b.lock.unlock();
  }

  // Unlinks w if nobody popped it. True if it was still linked.
  bool remove(waiter& w) noexcept {
    bucket& b = bucket_for(w.tag);
    b.lock.lock();
    const bool was = unlink(b, w);
    b.lock.unlock();
    return was;
  }

  // Unlinks `w` and ends the park it prepared but will not take (an expired park: returns at once,
  // consuming a wake-up a waker may have delivered meanwhile). True if it was still linked.
  bool withdraw(waiter& w) noexcept {
    const bool was = remove(w);
    fiber::detail::park_until(w.token, fiber::detail::clock::time_point::min());
    return was;
  }

  // Re-arms a still-linked waiter with a fresh token (a timed wait whose clock is not there yet).
  bool rearm(waiter& w) noexcept {
    bucket& b = bucket_for(w.tag);
    b.lock.lock();
    const bool was = w.linked;
    if (was) w.token = fiber::detail::prepare_park();
    b.lock.unlock();
    return was;
  }

  // Wakes one (or every) fiber parked on `key`; waiters whose park already ended are skipped.
  int wake(const void* key, bool all) noexcept {
    const auto tag = reinterpret_cast<std::uintptr_t>(key);
    bucket& b = bucket_for(tag);
    int n = 0;
    b.lock.lock();
    for (waiter* w = b.list.front(); w;) {
      waiter* next = w->next;  // read first: w may vanish once unparked
      if (w->tag == tag) {
        unlink(b, *w);
        if (fiber::detail::unpark(w->token)) {
          ++n;
          if (!all) break;
        }
      }
      w = next;
    }
    b.lock.unlock();
    return n;
  }

 private:
  struct alignas(64) bucket {
    fiber::detail::spinlock lock;
    fiber::detail::wait_list list;
  };

  static constexpr int bits = 6;
  bucket& bucket_for(std::uintptr_t x) noexcept {
    x = (x ^ (x >> 17)) * 0x9E3779B97F4A7C15ull;
    return buckets_[x >> (64 - bits)];
  }
  bool unlink(bucket& b, waiter& w) noexcept {
    if (!b.list.remove(&w)) return false;
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    return true;
  }

  bucket buckets_[1 << bits];
  std::atomic<long> waiting_{0};
};

}  // namespace weft::hook::detail
