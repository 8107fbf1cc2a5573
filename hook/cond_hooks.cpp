// cond_hooks.cpp — pthread_cond_{wait,timedwait,clockwait,signal,broadcast}: std::condition_variable
// (and std::condition_variable_any over a std::mutex) on fibers.
//
// Owns: making a condition-variable wait park the calling fiber instead of its worker, so two fibers
// of one worker can ping-pong on a std::condition_variable.
//
// How: a fiber waiter links a waiter (on its own stack) into `cond_waiters` (wait_table.hpp) keyed by
// the cond's address *before* it releases the mutex (mutex_hooks.hpp's unlock_any), then parks;
// signal/broadcast (from fibers and threads alike) unlink and unpark fiber waiters, then always call
// glibc's signal/broadcast for thread waiters (an extra wake-up is a spurious one, which POSIX
// allows). A waker whose unpark loses against a timeout moves on to the next waiter, so no signal is
// lost. The waiter then re-acquires the mutex through the fiber path of the mutex hooks, without a
// time limit. Timed waits: timedwait on the cond's clock (CLOCK_MONOTONIC if the cond was made so,
// else CLOCK_REALTIME), clockwait on CLOCK_REALTIME or CLOCK_MONOTONIC, through posix_time.hpp's
// clock_time: a steady estimate bounds the park, then the clock itself decides (a CLOCK_REALTIME
// deadline re-arms the wait while the clock is not there yet).
//
// Invariants: thread waiters use glibc's wait. Passed straight to glibc (block the worker on a fiber):
// waits by weft's own code or inside the hooks' machinery (may_park.hpp), waits on process-shared
// condition variables or with a robust/PI/PP mutex, and every wait in a process running
// ThreadSanitizer — its pthread_cond_{wait,timedwait,signal,broadcast} interceptors call glibc's
// GLIBC_2.3.2 versions found with dlvsym, which never returns an unversioned interposer like ours, so
// a fiber parked here would never be signalled (its pthread_mutex_* interceptors do reach our hooks).
#include <dlfcn.h>
#include <pthread.h>
#include <time.h>

#include <cerrno>
#include <fiber/detail/fiber_control.hpp>
#include <fiber/detail/park.hpp>
#include <fiber/detail/wait_record.hpp>
#include <hook/glibc_layout.hpp>
#include <hook/lock_check.hpp>
#include <hook/may_park.hpp>
#include <hook/mutex_hooks.hpp>
#include <hook/posix_time.hpp>
#include <hook/pthread_originals.hpp>
#include <hook/wait_table.hpp>

namespace fd = fiber::detail;
using fd::fiber_control;

namespace weft::hook::detail {

namespace {

constinit wait_table cond_waiters;

// Off under ThreadSanitizer (see above); set once at load.
bool cond_hooks = true;

__attribute__((constructor)) void check_for_tsan() {
  if (::dlsym(RTLD_DEFAULT, "__tsan_init")) cond_hooks = false;
}

int cond_wait_on_fiber(const char* call, pthread_cond_t* c, pthread_mutex_t* m, int type, fiber_control* self,
                       const clock_time* abs) noexcept {
  fd::waiter w;
  w.token = fd::prepare_park();
  cond_waiters.enqueue(w, c);  // before the mutex is released: a signal after that finds us
  if (const int rc = unlock_any(m); rc != 0) {
    cond_waiters.withdraw(w);
    return rc;
  }
  note_blocking_call(call);
  int result = 0;
  fiber::detail::wait_scope ws(fiber::detail::wait_kind::pthread_cond, c, 0, m);  // fiber::dump()
  for (;;) {
    const auto until = abs ? abs->steady_deadline() : fd::no_deadline;
    if (fd::park_until(w.token, until) == fd::wake_reason::notified) break;
    // Timed out by the steady clock. A CLOCK_REALTIME deadline is re-checked on its own clock.
    if (abs && !abs->reached() && cond_waiters.rearm(w)) continue;
    if (cond_waiters.remove(w)) {
      result = ETIMEDOUT;
    } else {
      // Popped by a waker whose unpark lost to our timeout: it went on to the next waiter.
      result = abs && abs->reached() ? ETIMEDOUT : 0;
    }
    break;
  }
  // Re-acquire like pthread_cond_wait does: without a deadline.
  const int rc = lock_on_fiber(m, type, self, nullptr, nullptr);
  return rc != 0 ? rc : result;
}

// The fiber that may park in this wait, or null: the wait goes to glibc (thread, weft internals,
// process-shared cond, robust/PI/PP mutex, TSan).
fiber_control* cond_parking_fiber(const pthread_cond_t* c, const pthread_mutex_t* m, const void* ra) noexcept {
  if (!cond_hooks) return nullptr;
  fiber_control* self = fd::current_fiber();
  if (!self || !may_park(ra)) return nullptr;
  if ((cond_wrefs(c) & cond_shared_mask) || (mutex_kind(m) & mutex_passthrough_flags)) return nullptr;
  return self;
}

}  // namespace

}  // namespace weft::hook::detail

namespace wh = weft::hook::detail;

extern "C" {

int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
  fiber_control* self = wh::cond_parking_fiber(c, m, __builtin_return_address(0));
  if (!self) return wh::libc_pthread_cond_wait()(c, m);
  return wh::cond_wait_on_fiber("pthread_cond_wait", c, m, wh::mutex_kind(m) & wh::mutex_type_mask, self, nullptr);
}

int pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m, const timespec* abs) {
  fiber_control* self = wh::cond_parking_fiber(c, m, __builtin_return_address(0));
  if (!self) return wh::libc_pthread_cond_timedwait()(c, m, abs);
  if (!wh::valid_nsec(*abs)) return EINVAL;
  const clockid_t clk = (wh::cond_wrefs(c) & wh::cond_monotonic_mask) ? CLOCK_MONOTONIC : CLOCK_REALTIME;
  const wh::clock_time until{clk, abs};
  return wh::cond_wait_on_fiber("pthread_cond_timedwait", c, m, wh::mutex_kind(m) & wh::mutex_type_mask, self, &until);
}

int pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clk, const timespec* abs) {
  fiber_control* self = wh::cond_parking_fiber(c, m, __builtin_return_address(0));
  if (!self) return wh::libc_pthread_cond_clockwait()(c, m, clk, abs);
  if (!wh::pthread_clock_ok(clk) || !wh::valid_nsec(*abs)) return EINVAL;
  const wh::clock_time until{clk, abs};
  return wh::cond_wait_on_fiber("pthread_cond_clockwait", c, m, wh::mutex_kind(m) & wh::mutex_type_mask, self, &until);
}

int pthread_cond_signal(pthread_cond_t* c) noexcept {
  if (!wh::cond_waiters.empty()) wh::cond_waiters.wake(c, false);
  return wh::libc_pthread_cond_signal()(c);
}

int pthread_cond_broadcast(pthread_cond_t* c) noexcept {
  if (!wh::cond_waiters.empty()) wh::cond_waiters.wake(c, true);
  return wh::libc_pthread_cond_broadcast()(c);
}

}  // extern "C"
