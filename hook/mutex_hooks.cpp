// mutex_hooks.cpp — pthread_mutex_{lock,trylock,timedlock,clocklock,unlock}: std::mutex,
// std::recursive_mutex and std::timed_mutex on fibers.
//
// Owns: making a contended pthread mutex park the calling fiber instead of its worker, so two fibers
// of one worker can share a std::mutex, and a fiber holding one across a hooked read()/sleep() no
// longer deadlocks the worker when a sibling fiber wants it.
//
// How:
// - The mutex stays glibc's: every acquisition on a fiber is glibc's own pthread_mutex_trylock, every
//   release glibc's pthread_mutex_unlock, so fibers, plain threads and glibc's own condvar code can
//   share one mutex. A fiber that finds it busy yields twice (a sibling that merely yielded while
//   holding it gets to run), then registers in `mutex_waiters` (wait_table.hpp), tries once more and
//   parks with a back-off timeout (50 µs doubling to 1 ms). Every hooked unlock (fiber or thread)
//   wakes one registered waiter of that mutex, so a hand-over is prompt; the timeout covers releases
//   no hook sees (glibc's pthread_cond_wait unlocking for a thread waiter). Registering before the
//   last try means an unlock either is seen by the try or finds the waiter.
// - Recursive and error-checking mutexes: the per-worker records of held_mutexes.hpp say which fiber
//   holds each one, so a sibling fiber waits instead of re-entering, and EDEADLK / EPERM are
//   reported for fibers the way glibc reports them for threads.
// - Time limits (timedlock: CLOCK_REALTIME; clocklock: CLOCK_REALTIME or CLOCK_MONOTONIC) go through
//   posix_time.hpp's clock_time: a steady estimate bounds each park, the clock itself decides.
//
// Invariants:
// - Off a fiber every call is glibc's (plus, for unlock, a check of the count of parked fibers). On
//   a fiber, a lock that may not park (may_park.hpp: weft's own locks, the hooks' machinery) blocks
//   like glibc's. Robust, priority-inheritance and priority-protect mutexes are glibc's.
// - No fairness: a released mutex goes to whoever tries first (as with glibc's normal mutexes); waits
//   on a fiber are not cancellation points.
// - After glibc's unlock the mutex may already be destroyed by its next owner: only its address is
//   used to wake a waiter.
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fiber/detail/fiber_control.hpp>
#include <fiber/detail/park.hpp>
#include <fiber/detail/wait_record.hpp>
#include <fiber/this_fiber.hpp>
#include <hook/glibc_layout.hpp>
#include <hook/held_mutexes.hpp>
#include <hook/lock_check.hpp>
#include <hook/may_park.hpp>
#include <hook/mutex_hooks.hpp>
#include <hook/posix_time.hpp>
#include <hook/pthread_originals.hpp>
#include <hook/wait_table.hpp>
#include <string>

namespace fd = fiber::detail;
using fd::fiber_control;
using namespace std::chrono;

namespace weft::hook::detail {

namespace {

constinit wait_table mutex_waiters;

void note_acquired(pthread_mutex_t* m, int type, fiber_control* self, bool fresh) {
  fiber_lock_state* st = lock_state();
  if (st) ++st->held;
  if (fresh && tracked(type)) add_held({m, self->id, self, st});
}

// One attempt: 0, EBUSY (someone else holds it), EDEADLK (error-checking, held by this very fiber),
// EAGAIN (recursion count overflow). `trylock` gives glibc's trylock answers (EBUSY, not EDEADLK).
int try_acquire(pthread_mutex_t* m, int type, fiber_control* self, bool trylock) noexcept {
  if (type == PTHREAD_MUTEX_RECURSIVE_NP || type == PTHREAD_MUTEX_ERRORCHECK_NP) {
    if (held_record* r = find_held(m)) {
      if (r->owner != self->id) return EBUSY;  // a sibling fiber of this worker owns it
      if (type == PTHREAD_MUTEX_ERRORCHECK_NP) return trylock ? EBUSY : EDEADLK;
      const int rc = libc_pthread_mutex_trylock()(m);  // our own recursion: glibc counts it
      if (rc == 0) note_acquired(m, type, self, false);
      return rc;
    }
    const int rc = libc_pthread_mutex_trylock()(m);
    if (rc != 0) return rc;
    if (type == PTHREAD_MUTEX_RECURSIVE_NP && mutex_count(m) > 1) {
      // This thread held it outside any fiber (weft internals): not ours to re-enter.
      libc_pthread_mutex_unlock()(m);
      return EBUSY;
    }
    note_acquired(m, type, self, true);
    return 0;
  }
  const int rc = libc_pthread_mutex_trylock()(m);
  if (rc == 0) note_acquired(m, type, self, true);
  return rc;
}

void report_parked_holder(const pthread_mutex_t* m, fiber_control* self) noexcept {
  if (!lock_check_enabled) return;
  held_record* r = find_held(m);
  if (!r || r->owner == self->id || !r->state || r->state->warned) return;
  try {
    const std::string what = "blocks (parked or yielded) while holding a pthread mutex that " + self->describe() +
                             " on the same worker waits for";
    warn_once(r->state, r->fiber->describe(), what.c_str());
  } catch (...) {
  }
}

// The contended path: yield, then park in mutex_waiters with a growing timeout, until the mutex is
// ours, or `abs` has passed.
int lock_slow(pthread_mutex_t* m, int type, fiber_control* self, const clock_time* abs) noexcept {
  if (abs) {
    if (!valid_nsec(*abs->ts)) return EINVAL;
    if (abs->ts->tv_sec < 0) return ETIMEDOUT;
  }
  report_parked_holder(m, self);
  fiber::detail::wait_scope ws(fiber::detail::wait_kind::pthread_mutex, m);  // fiber::dump()
  nanoseconds backoff = microseconds(50);
  for (int round = 0;; ++round) {
    int rc;
    if (round < 2) {
      fiber::this_fiber::yield();
      rc = try_acquire(m, type, self, false);
    } else {
      fd::waiter w;
      w.token = fd::prepare_park();
      mutex_waiters.enqueue(w, m);
      rc = try_acquire(m, type, self, false);  // an unlock before this point is seen here
      if (rc != EBUSY) {
        mutex_waiters.withdraw(w);
        return rc;
      }
      auto until = fd::deadline_after(backoff);
      if (abs) until = std::min(until, abs->steady_deadline());
      fd::park_until(w.token, until);
      backoff = std::min<nanoseconds>(backoff * 2, milliseconds(1));
      mutex_waiters.remove(w);
      rc = try_acquire(m, type, self, false);
    }
    if (rc != EBUSY) return rc;
    if (abs && abs->reached()) return ETIMEDOUT;
  }
}

}  // namespace

int lock_on_fiber(pthread_mutex_t* m, int type, fiber_control* self, const clock_time* abs,
                  const void* return_address) noexcept {
  int rc = try_acquire(m, type, self, false);
  if (rc != EBUSY) return rc;
  if (!return_address || may_park(return_address)) return lock_slow(m, type, self, abs);
  // Not allowed to park: block like glibc.
  const bool fresh = !find_held(m);
  rc = abs ? libc_pthread_mutex_clocklock()(m, abs->clk, abs->ts) : libc_pthread_mutex_lock()(m);
  if (rc == 0) note_acquired(m, type, self, fresh);
  return rc;
}

int unlock_any(pthread_mutex_t* m) noexcept {
  const int kind = mutex_kind(m);
  const int type = kind & mutex_type_mask;
  fiber_control* self;
  if (tracked(type) && !(kind & mutex_passthrough_flags) && (self = fd::current_fiber())) {
    if (held_record* r = find_held(m)) {
      const bool mine = r->owner == self->id;
      // A sibling fiber's recursive/error-checking mutex: glibc would accept it (same thread).
      if (!mine && (type == PTHREAD_MUTEX_RECURSIVE_NP || type == PTHREAD_MUTEX_ERRORCHECK_NP)) return EPERM;
      if (!mine || type != PTHREAD_MUTEX_RECURSIVE_NP || mutex_count(m) <= 1) drop_held(r);
    }
    if (fiber_lock_state* st = lock_state(); st && st->held > 0) --st->held;
  }
  const int rc = libc_pthread_mutex_unlock()(m);
  // `m` may be destroyed by its next owner from here on: only its address is used below.
  if (rc == 0 && !mutex_waiters.empty()) mutex_waiters.wake(m, false);
  return rc;
}

}  // namespace weft::hook::detail

namespace wh = weft::hook::detail;

extern "C" {

int pthread_mutex_lock(pthread_mutex_t* m) noexcept {
  fiber_control* self = fd::current_fiber();
  if (!self) return wh::libc_pthread_mutex_lock()(m);
  const int kind = wh::mutex_kind(m);
  if (kind & wh::mutex_passthrough_flags) return wh::libc_pthread_mutex_lock()(m);
  return wh::lock_on_fiber(m, kind & wh::mutex_type_mask, self, nullptr, __builtin_return_address(0));
}

int pthread_mutex_trylock(pthread_mutex_t* m) noexcept {
  fiber_control* self = fd::current_fiber();
  if (!self) return wh::libc_pthread_mutex_trylock()(m);
  const int kind = wh::mutex_kind(m);
  const int type = kind & wh::mutex_type_mask;
  if ((kind & wh::mutex_passthrough_flags) || !wh::tracked(type)) return wh::libc_pthread_mutex_trylock()(m);
  return wh::try_acquire(m, type, self, true);
}

int pthread_mutex_clocklock(pthread_mutex_t* m, clockid_t clk, const timespec* abs) noexcept {
  fiber_control* self = fd::current_fiber();
  if (!self) return wh::libc_pthread_mutex_clocklock()(m, clk, abs);
  const int kind = wh::mutex_kind(m);
  if (kind & wh::mutex_passthrough_flags) return wh::libc_pthread_mutex_clocklock()(m, clk, abs);
  if (!wh::pthread_clock_ok(clk)) return EINVAL;
  const wh::clock_time until{clk, abs};
  return wh::lock_on_fiber(m, kind & wh::mutex_type_mask, self, &until, __builtin_return_address(0));
}

int pthread_mutex_timedlock(pthread_mutex_t* m, const timespec* abs) noexcept {
  fiber_control* self = fd::current_fiber();
  if (!self) return wh::libc_pthread_mutex_timedlock()(m, abs);
  const int kind = wh::mutex_kind(m);
  if (kind & wh::mutex_passthrough_flags) return wh::libc_pthread_mutex_timedlock()(m, abs);
  const wh::clock_time until{CLOCK_REALTIME, abs};
  return wh::lock_on_fiber(m, kind & wh::mutex_type_mask, self, &until, __builtin_return_address(0));
}

int pthread_mutex_unlock(pthread_mutex_t* m) noexcept {
  return wh::unlock_any(m);
}

}  // extern "C"
