// sleep_hooks.cpp — sleep, usleep, nanosleep, clock_nanosleep.
//
// Owns: turning a sleep on a fiber into a park on the worker's timer heap (fiber::this_fiber), so
// the worker runs other fibers meanwhile. Semantics kept: the sleep lasts at least the requested
// time; invalid arguments give EINVAL (errno for nanosleep/usleep, the return value for
// clock_nanosleep); TIMER_ABSTIME sleeps until the clock reads the given time (CLOCK_REALTIME is
// re-checked, so a clock step is honoured); a sleep on a fiber is never interrupted by a signal
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

namespace {

using namespace std::chrono;

nanoseconds to_ns(const timespec& ts) noexcept { return seconds(ts.tv_sec) + nanoseconds(ts.tv_nsec); }

// Every sleep below parks the fiber on its worker's timer (the lock detector looks first).
template <class Duration>
void sleep_on_fiber(Duration d) {
  weft::hook::detail::note_blocking_call("a sleep");
  fiber::this_fiber::sleep_for(d);
}

bool valid(const timespec* ts) noexcept { return ts && ts->tv_nsec >= 0 && ts->tv_nsec < 1'000'000'000 && ts->tv_sec >= 0; }

}  // namespace

extern "C" {

int nanosleep(const timespec* req, timespec* rem) {
  if (!fiber::detail::in_fiber()) return WEFT_ORIG(nanosleep)(req, rem);
  if (!req || !valid(req)) {
    if (!req) return WEFT_ORIG(nanosleep)(req, rem);  // EFAULT, as libc reports it
    errno = EINVAL;
    return -1;
  }
  sleep_on_fiber(to_ns(*req));
  return 0;
}

int clock_nanosleep(clockid_t clk, int flags, const timespec* req, timespec* rem) {
  bool supported = clk == CLOCK_REALTIME || clk == CLOCK_MONOTONIC || clk == CLOCK_MONOTONIC_RAW || clk == CLOCK_BOOTTIME;
  if (!fiber::detail::in_fiber() || !supported || !req) return WEFT_ORIG(clock_nanosleep)(clk, flags, req, rem);
  if (req->tv_nsec < 0 || req->tv_nsec >= 1'000'000'000) return EINVAL;
  if (!(flags & TIMER_ABSTIME)) {
    if (req->tv_sec >= 0) sleep_on_fiber(to_ns(*req));
    return 0;
  }
  for (;;) {  // absolute: sleep in steady slices until `clk` reaches the target
    timespec now{};
    ::clock_gettime(clk, &now);
    auto left = to_ns(*req) - to_ns(now);
    if (left <= nanoseconds::zero()) return 0;
    sleep_on_fiber(left);
  }
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
