// posix_time.hpp — the hooks' POSIX time arguments as weft deadlines, through fiber/detail/deadline.hpp.
//
// Owns: reading a poll/epoll millisecond timeout, a relative timespec (nanosleep, ppoll, pselect), a
// timeval (select, SO_RCVTIMEO/SO_SNDTIMEO) and an absolute time on a POSIX clock (pthread timed
// waits, clock_nanosleep TIMER_ABSTIME). CLOCK_REALTIME is std::chrono::system_clock,
// CLOCK_MONOTONIC is std::chrono::steady_clock (weft's own clock); CLOCK_MONOTONIC_RAW and
// CLOCK_BOOTTIME are posix_clock<id>, read with clock_gettime.
// Invariants (deadline.hpp's saturation rules, nothing converts on its own): no conversion here
// overflows, whatever tv_sec holds — a limit too large for int64 nanoseconds, or more than ~31 years
// away, is no deadline; a time already past is an expired deadline. A deadline on a clock other than
// steady_clock is an estimate: waits re-check it with clock_time::reached() (the clock may be set).
// Argument validation (the EINVAL cases) stays with each hook, as they differ per call; valid_nsec
// and valid_timespec are the checks they share.
#pragma once

#include <sys/time.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <fiber/detail/deadline.hpp>
#include <limits>

namespace weft::hook::detail {

using steady_time = fiber::detail::clock::time_point;

// tv_nsec in [0, 1e9): what every call taking a timespec requires.
inline bool valid_nsec(const timespec& ts) noexcept {
  return ts.tv_nsec >= 0 && ts.tv_nsec < 1'000'000'000;
}

// Also tv_sec >= 0: what Linux requires of a timeout or sleep (the pthread waits time out instead).
inline bool valid_timespec(const timespec& ts) noexcept {
  return ts.tv_sec >= 0 && valid_nsec(ts);
}

// A relative timespec as nanoseconds, saturating (a negative one stays negative).
inline std::chrono::nanoseconds duration_of(const timespec& ts) noexcept {
  return std::chrono::nanoseconds(fiber::detail::timespec_ns(ts));
}

// A timeval as nanoseconds, saturating; tv_usec >= 1'000'000 carries into seconds (as Linux's select does).
inline std::int64_t timeval_ns(const timeval& tv) noexcept {
  timespec ts{};
  if (__builtin_add_overflow(tv.tv_sec, tv.tv_usec / 1'000'000, &ts.tv_sec))
    return tv.tv_sec > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
  ts.tv_nsec = (tv.tv_usec % 1'000'000) * 1000;
  return fiber::detail::timespec_ns(ts);
}

// poll's and epoll_wait's timeout: negative waits forever.
inline steady_time deadline_after_ms(int ms) noexcept {
  if (ms < 0) return fiber::detail::no_deadline;
  return fiber::detail::deadline_after(std::chrono::milliseconds(ms));
}

// ppoll's and pselect's timeout: null (or negative) waits forever.
inline steady_time deadline_after_ts(const timespec* ts) noexcept {
  if (!ts) return fiber::detail::no_deadline;
  const std::int64_t ns = fiber::detail::timespec_ns(*ts);
  return ns < 0 ? fiber::detail::no_deadline : fiber::detail::deadline_after_ns(ns);
}

// A POSIX clock without a std::chrono counterpart, as a Clock (not steady: it may run at another rate).
template <clockid_t Id>
struct posix_clock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<posix_clock>;
  static constexpr bool is_steady = false;
  static time_point now() noexcept {
    timespec t{};
    ::clock_gettime(Id, &t);
    return time_point(duration(fiber::detail::timespec_ns(t)));
  }
};

// An absolute time `*ts` on `clk`: CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW or
// CLOCK_BOOTTIME (callers reject the others first; any other id is read as CLOCK_MONOTONIC). Only
// dereferenced when asked (a trylock that succeeds never reads the caller's timespec, as in glibc).
struct clock_time {
  clockid_t clk;
  const timespec* ts;

  // Calls f(ts as a std::chrono::time_point of clk's Clock, saturating).
  template <class F>
  decltype(auto) visit(F&& f) const {
    switch (clk) {
      case CLOCK_REALTIME:
        return f(as_time_point<std::chrono::system_clock>());
      case CLOCK_MONOTONIC_RAW:
        return f(as_time_point<posix_clock<CLOCK_MONOTONIC_RAW>>());
      case CLOCK_BOOTTIME:
        return f(as_time_point<posix_clock<CLOCK_BOOTTIME>>());
      default:
        return f(as_time_point<std::chrono::steady_clock>());
    }
  }

  // The steady instant at which clk is expected to read ts (exact for CLOCK_MONOTONIC).
  steady_time steady_deadline() const noexcept {
    return visit([](const auto& t) { return fiber::detail::deadline_at(t); });
  }

  // True once clk reads ts or later.
  bool reached() const noexcept {
    return visit([](const auto& t) { return fiber::detail::reached(t); });
  }

 private:
  template <class Clock>
  std::chrono::time_point<Clock, std::chrono::nanoseconds> as_time_point() const noexcept {
    return std::chrono::time_point<Clock, std::chrono::nanoseconds>(duration_of(*ts));
  }
};

}  // namespace weft::hook::detail
