// park.cpp — the park/unpark primitive (protocol in fiber/detail/park.hpp) for both kinds of parker:
// fibers (switch away; the worker commits PARKING -> PARKED after the switch) and OS threads
// (the platform's thread waiter, os/thread_waiter.hpp, on the low half of the parker word).
#include <fiber/detail/park.hpp>

#include <fiber/detail/fiber_control.hpp>
#include <fiber/detail/worker.hpp>

#include <fiber/detail/assert.hpp>
#include <fiber/detail/debug_registry.hpp>
#include <fiber/detail/os/cpu.hpp>
#include <fiber/detail/os/thread_waiter.hpp>
#include <fiber/detail/sanitizers.hpp>

#include <unistd.h>

#include <cstdio>
#include <string>

namespace fiber::detail {

std::atomic<std::uint64_t> thread_park_returns{0};

// The pool of thread parkers (debug_registry.hpp): a lock-free list, pushed to, never shrunk.
// Named (not in an anonymous namespace) so that tools/weft-gdb.py finds it in a core file too.
std::atomic<thread_parker*> thread_parker_pool{nullptr};

namespace {

std::atomic<thread_parker*>& parker_pool = thread_parker_pool;

thread_local thread_parker* tls_thread_parker = nullptr;
thread_local bool tls_parker_released = false;

thread_parker* take_pooled_parker() {
  for (thread_parker* p = parker_pool.load(std::memory_order_acquire); p; p = p->all_next) {
    bool expected = false;
    if (!p->in_use.load(std::memory_order_relaxed) &&
        p->in_use.compare_exchange_strong(expected, true, std::memory_order_acquire))
      return p;
  }
  auto* p = new thread_parker();  // never freed (type-stable: see debug_registry.hpp)
  p->in_use.store(true, std::memory_order_relaxed);
  thread_parker* head = parker_pool.load(std::memory_order_relaxed);
  do {
    p->all_next = head;
  } while (!parker_pool.compare_exchange_weak(head, p, std::memory_order_release, std::memory_order_relaxed));
  return p;
}

struct parker_release {
  ~parker_release() {
    if (thread_parker* p = tls_thread_parker) {
      p->tid.store(0, std::memory_order_relaxed);
      p->wait.kind.store(wait_kind::none, std::memory_order_relaxed);
      p->in_use.store(false, std::memory_order_release);
    }
    tls_thread_parker = nullptr;
    tls_parker_released = true;
  }
};

__attribute__((noinline)) thread_parker* acquire_thread_parker() noexcept {
  thread_parker* p = take_pooled_parker();
  p->tid.store(current_thread_id(), std::memory_order_relaxed);
  tls_thread_parker = p;
  // A thread still parking while its thread_locals are destroyed keeps its parker (rare).
  if (!tls_parker_released) {
    static thread_local parker_release release;
    (void)release;
  }
  return p;
}

inline thread_parker* my_thread_parker() noexcept {
  thread_parker* p = tls_thread_parker;
  return p ? p : acquire_thread_parker();
}

parker* current_parker() noexcept {
  worker* w = worker::current();
  if (w && w->running()) return w->running();
  return my_thread_parker();
}

}  // namespace

parker* current_thread_parker() noexcept {
  return my_thread_parker();
}

thread_parker* all_thread_parkers() noexcept {
  return parker_pool.load(std::memory_order_acquire);
}

bool is_thread_parker(const void* p) noexcept {
  for (thread_parker* t = all_thread_parkers(); t; t = t->all_next)
    if (t == p) return true;
  return false;
}

wait_record& current_wait_record() noexcept {
  return current_parker()->wait;
}

namespace {

// Consumes the wake-up: the word goes back to "running" with the same sequence.
wake_reason consume(parker* p, std::uint64_t seq) noexcept {
  std::uint64_t w = p->word.load(std::memory_order_acquire);
  auto why = static_cast<wake_reason>((w & ps_mask) - ps_woken);
  p->word.store(seq << 3 | ps_running, std::memory_order_relaxed);
  return why;
}

bool woken(const parker* p) noexcept {
  return (p->word.load(std::memory_order_acquire) & ps_mask) >= ps_woken;
}

wake_reason park_thread(park_token token, clock::time_point deadline) noexcept {
  parker* p = token.who;
  WEFT_ASSERT(p == tls_thread_parker, "a thread parks only with its own token");
  for (;;) {
    std::uint64_t w = p->word.load(std::memory_order_acquire);
    if ((w & ps_mask) != ps_parking) break;
    if (deadline != no_deadline && clock::now() >= deadline) {
      if (unpark(token, wake_reason::timeout)) break;
      continue;  // a waker won the race: its reason stands
    }
    wait_on_word(p->word, w, deadline);  // the state and the sequence's low bits change on wake
  }
  thread_park_returns.fetch_add(1, std::memory_order_relaxed);
  return consume(p, token.seq);
}

wake_reason park_fiber(park_token token, clock::time_point deadline) noexcept {
  auto* self = static_cast<fiber_control*>(token.who);
  WEFT_ASSERT(self == current_fiber(), "a fiber parks only with its own token");
  worker* w = self->home;
  if (woken(self)) return consume(self, token.seq);
  timer_node timer;
  if (deadline != no_deadline) {
    if (deadline <= clock::now()) {
      unpark(token, wake_reason::timeout);  // loses only to a waker that already won
      return consume(self, token.seq);
    }
    timer.deadline = deadline;
    timer.token = token;
    w->timers().push(&timer);
  }
  w->park_current();
  w->timers().remove(&timer);
  return consume(self, token.seq);
}

}  // namespace

park_token prepare_park() noexcept {
  parker* p = current_parker();
  // A previous prepare_park() may have been abandoned (the caller found what it wanted and did not
  // park): its token just goes stale here, and a late unpark of it fails on the sequence.
  std::uint64_t seq = (p->word.load(std::memory_order_relaxed) >> 3) + 1;
  p->word.store(seq << 3 | ps_parking, std::memory_order_seq_cst);
  return {p, seq};
}

wake_reason park(park_token token) noexcept {
  return park_until(token, no_deadline);
}

wake_reason park_until(park_token token, clock::time_point deadline) noexcept {
  WEFT_ASSERT((token.who->word.load(std::memory_order_relaxed) >> 3) == token.seq,
              "park() with a stale token: something parked between prepare_park() and park()");
  if (token.who->kind_ == parker::kind::thread) return park_thread(token, deadline);
  return park_fiber(token, deadline);
}

wake_reason park_until(park_token token, clock::time_point deadline, const std::stop_token& stop) noexcept {
  if (!stop.stop_possible()) return park_until(token, deadline);
  // Runs at once if stop was already requested: the park then returns `stopped` immediately.
  std::stop_callback on_stop(stop, [token] { unpark(token, wake_reason::stopped); });
  return park_until(token, deadline);
}

wake_reason park_until_own_stop(park_token token, clock::time_point deadline) noexcept {
  if (token.who->kind_ != parker::kind::fiber) return park_until(token, deadline);
  auto* f = static_cast<fiber_control*>(token.who);
  f->own_stop_park.store(token.seq, std::memory_order_seq_cst);
  if (f->own_stop_seen.load(std::memory_order_seq_cst)) unpark(token, wake_reason::stopped);  // then returns at once
  return park_until(token, deadline);
}

bool own_stop_requested() noexcept {
  fiber_control* f = current_fiber();
  return f && f->own_stop_seen.load(std::memory_order_acquire);
}

namespace {
// A stale token's parker may be a control block being recycled for a new fiber at this moment (its
// constructor writing the word). The sequence check rejects such a token; under TSan these first
// reads go around the sanitizer, which would report that by-design race (as the deadlock walk's
// peek() does). Not inlined there, so that the reads stay uninstrumented.
#ifdef WEFT_TSAN
WEFT_NO_SANITIZE __attribute__((noinline)) std::uint64_t first_look(const parker* p, bool& is_thread) noexcept {
  is_thread = p->kind_ == parker::kind::thread;
  return __atomic_load_n(reinterpret_cast<const std::uint64_t*>(&p->word), __ATOMIC_ACQUIRE);
}
#else
inline std::uint64_t first_look(const parker* p, bool& is_thread) noexcept {
  is_thread = p->kind_ == parker::kind::thread;
  return p->word.load(std::memory_order_acquire);
}
#endif
}  // namespace

bool unpark(park_token token, wake_reason why) noexcept {
  parker* p = token.who;
  const std::uint64_t seq_bits = token.seq << 3;
  // Read before the CAS: once it succeeds, a fiber that was still PARKING may run on, finish and
  // have its control block reused, so `p` must not be touched afterwards (except a PARKED fiber,
  // which cannot run until we queue it).
  bool is_thread = false;
  std::uint64_t w = first_look(p, is_thread);
  for (;;) {
    if ((w & ~ps_mask) != seq_bits) return false;  // a stale token: that park is over
    const std::uint64_t state = w & ps_mask;
    if (state != ps_parking && state != ps_parked) return false;  // someone else won
    const std::uint64_t woken_word = seq_bits | (ps_woken + static_cast<std::uint64_t>(why));
    if (p->word.compare_exchange_weak(w, woken_word, std::memory_order_acq_rel, std::memory_order_acquire)) {
      if (is_thread) {
        wake_word(p->word);
      } else if (state == ps_parked) {
        auto* f = static_cast<fiber_control*>(p);
        f->home->make_ready(f);
      }
      // state == parking (fiber): the worker's commit sees the wake-up and requeues it.
      return true;
    }
  }
}

bool in_fiber() noexcept {
  worker* w = worker::current();
  return w && w->running();
}

fiber_control* current_fiber() noexcept {
  worker* w = worker::current();
  return w ? w->running() : nullptr;
}

std::stop_token current_stop_token() noexcept {
  fiber_control* f = current_fiber();
  if (!f) return {};
  return f->stop_source().get_token();
}

const char* current_name_for_diagnostics() noexcept {
  thread_local std::string buffer;
  fiber_control* f = current_fiber();
  try {
    buffer = f ? f->describe() : std::string("a thread (not a fiber)");
  } catch (...) {
    return "a fiber";
  }
  return buffer.c_str();
}

}  // namespace fiber::detail
