// sleep_hooks.cpp — sleep, usleep, nanosleep, clock_nanosleep.
//
// Owns: turning a sleep on a fiber into a park on the worker's timer heap (fiber::this_fiber), so
// the worker runs other fibers meanwhile. Semantics kept: the sleep lasts at least the requested
// time; invalid arguments (tv_nsec out of range, tv_sec < 0 — as Linux, also for TIMER_ABSTIME) give
// EINVAL (errno for nanosleep/usleep, the return value for clock_nanosleep); TIMER_ABSTIME sleeps
// until the clock reads the given time (every clock but CLOCK_MONOTONIC is re-checked on itself, so
// a clock step is honoured); times are read through posix_time.hpp, so no request overflows (a
// tv_sec of max time_t sleeps forever); a sleep on a fiber is never interrupted by a signal
// (the worker thread takes signals), so EINTR and the remaining-time output never happen there.
// Clocks other than CLOCK_REALTIME/CLOCK_MONOTONIC(_RAW)/CLOCK_BOOTTIME, and every call off a
// fiber, are libc's. glibc's sleep/usleep call nanosleep internally where no hook can see it, which
// is why all four are hooked.
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fiber/detail/park.hpp>
#include <fiber/this_fiber.hpp>
#include <hook/lock_check.hpp>
#include <hook/original.hpp>
#include <hook/posix_time.hpp>

namespace {

using namespace std::chrono;
namespace wh = weft::hook::detail;

// Every sleep below parks the fiber on its worker's timer (the lock detector looks first).
template <class Duration>
void sleep_on_fiber(Duration d) {
  wh::note_blocking_call("a sleep");
  fiber::this_fiber::sleep_for(d);
}

bool valid(const timespec* ts) noexcept {
  return ts && wh::valid_timespec(*ts);
}

}  // namespace

extern "C" {

int nanosleep(const timespec* req, timespec* rem) {
  if (!fiber::detail::in_fiber()) return WEFT_ORIG(nanosleep)(req, rem);
  if (!req || !valid(req)) {
    if (!req) return WEFT_ORIG(nanosleep)(req, rem);  // EFAULT, as libc reports it
    errno = EINVAL;
    return -1;
  }
  sleep_on_fiber(wh::duration_of(*req));
  return 0;
}

int clock_nanosleep(clockid_t clk, int flags, const timespec* req, timespec* rem) {
  bool supported =
      clk == CLOCK_REALTIME || clk == CLOCK_MONOTONIC || clk == CLOCK_MONOTONIC_RAW || clk == CLOCK_BOOTTIME;
  if (!fiber::detail::in_fiber() || !supported || !req) return WEFT_ORIG(clock_nanosleep)(clk, flags, req, rem);
  if (!valid(req)) return EINVAL;
  if (!(flags & TIMER_ABSTIME)) {
    sleep_on_fiber(wh::duration_of(*req));
    return 0;
  }
  const wh::clock_time until{clk, req};
  if (until.reached()) return 0;
  wh::note_blocking_call("a sleep");
  // Steady slices until `clk` itself reads the target (fiber::this_fiber::sleep_until re-checks).
  until.visit([](const auto& t) { fiber::this_fiber::sleep_until(t); });
  return 0;
}

unsigned int sleep(unsigned int secs) {
  if (!fiber::detail::in_fiber()) return WEFT_ORIG(sleep)(secs);
  sleep_on_fiber(seconds(secs));
  return 0;
}

int usleep(useconds_t us) {
  if (!fiber::detail::in_fiber()) return WEFT_ORIG(usleep)(us);
  sleep_on_fiber(microseconds(us));
  return 0;
}

}  // extern "C"
