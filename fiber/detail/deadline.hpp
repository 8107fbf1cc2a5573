// deadline.hpp — the one conversion from the caller's time limit to the steady deadline that every
// wait in weft uses (timers, park_until, OS-thread waits).
//
//   deadline_after(5s)              -> steady_clock::now() + 5 s, saturating at no_deadline
//   deadline_at(system_clock tp)    -> the steady instant at which that clock should read tp
//   wait_until_clock(tp, wait)      -> runs wait(steady deadline) until it succeeds or tp's own
//                                      clock has reached tp (a non-steady clock may run slower or be
//                                      set back: the standard ends a wait only when *that* clock says so)
//
// Saturation rules (every caller relies on them, so none converts on its own):
// - a duration or time point too large for nanoseconds (hours::max(), time_point::max(), a double
//   that is +inf) means "no deadline"; one more than ~31 years away counts as no deadline too;
// - a negative or too small one (time_point::min(), -inf, NaN) means "already expired": the wait
//   becomes a try;
// - nothing here overflows, whatever Rep, Period or Clock the caller used.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <limits>
#include <ratio>
#include <type_traits>

namespace fiber::detail {

using clock = std::chrono::steady_clock;
constexpr clock::time_point no_deadline = clock::time_point::max();

namespace time_detail {

constexpr std::int64_t ns_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t ns_min = std::numeric_limits<std::int64_t>::min();
// Beyond this many seconds a limit counts as "forever" (and sums below cannot overflow).
constexpr long double forever_seconds = 1e9L;  // ~31.7 years

template <class Rep, class Period>
constexpr long double seconds_of(const std::chrono::duration<Rep, Period>& d) noexcept {
  return static_cast<long double>(d.count()) * static_cast<long double>(Period::num) /
         static_cast<long double>(Period::den);
}

// a - b for two durations of any types, in seconds, without integer overflow.
template <class D1, class D2>
constexpr long double difference_seconds(const D1& a, const D2& b) noexcept {
  return seconds_of(a) - seconds_of(b);
}

}  // namespace time_detail

// Nanoseconds in `d`, rounded up, clamped to the int64 range (NaN: 0).
template <class Rep, class Period>
constexpr std::int64_t saturating_ns(const std::chrono::duration<Rep, Period>& d) noexcept {
  using namespace time_detail;
  const long double s = seconds_of(d);
  if (s != s) return 0;  // NaN
  if (s >= 9.2e9L) return ns_max;
  if (s <= -9.2e9L) return ns_min;
  if constexpr (std::chrono::treat_as_floating_point_v<Rep>) {
    return static_cast<std::int64_t>(std::ceil(s * 1e9L));
  } else {
    return std::chrono::ceil<std::chrono::nanoseconds>(d).count();
  }
}

// base + ns, clamped: past the end of the clock's range is no_deadline.
constexpr clock::time_point add_saturating(clock::time_point base, std::int64_t ns) noexcept {
  const std::int64_t b = std::chrono::duration_cast<std::chrono::nanoseconds>(base.time_since_epoch()).count();
  std::int64_t sum = 0;
  if (__builtin_add_overflow(b, ns, &sum)) return ns > 0 ? no_deadline : clock::time_point::min();
  return clock::time_point(std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(sum)));
}

// The steady deadline `d` from now. A duration <= 0 is already expired; a huge one is none.
template <class Rep, class Period>
clock::time_point deadline_after(const std::chrono::duration<Rep, Period>& d) noexcept {
  const auto now = clock::now();
  const long double s = time_detail::seconds_of(d);
  if (!(s > 0)) return now;  // also NaN
  if (s >= time_detail::forever_seconds) return no_deadline;
  return add_saturating(now, saturating_ns(d));
}

// C++20 makes every *_until with a type that is not a clock ill-formed ([thread.req.timing]).
#define WEFT_REQUIRE_CLOCK(Clock)               \
  static_assert(std::chrono::is_clock_v<Clock>, \
                "weft: the time point's Clock does not meet the Cpp17Clock requirements")

// True once `t`'s own clock has reached t (exact; no overflow for coarse or extreme time points).
template <class Clock, class Duration>
bool reached(const std::chrono::time_point<Clock, Duration>& t) {
  WEFT_REQUIRE_CLOCK(Clock);
  const auto now = Clock::now();
  const long double gap = time_detail::difference_seconds(t.time_since_epoch(), now.time_since_epoch());
  // Far apart: floating point decides. Close: both fit in their common type, compare exactly.
  if (gap > 1.0L) return false;
  if (gap < -1.0L) return true;
  return now >= t;
}

// The steady instant at which `t`'s clock is expected to read t. Exact for steady_clock; for any
// other clock an estimate made now, which callers re-check with reached() (wait_until_clock).
template <class Clock, class Duration>
clock::time_point deadline_at(const std::chrono::time_point<Clock, Duration>& t) noexcept {
  WEFT_REQUIRE_CLOCK(Clock);
  using namespace time_detail;
  if constexpr (std::is_same_v<Clock, clock>) {
    const long double s = seconds_of(t.time_since_epoch());
    if (s >= seconds_of(no_deadline.time_since_epoch())) return no_deadline;
    if (s <= seconds_of(clock::time_point::min().time_since_epoch())) return clock::time_point::min();
    return add_saturating(clock::time_point(), saturating_ns(t.time_since_epoch()));
  } else {
    const auto now = Clock::now();
    const auto steady_now = clock::now();
    const long double left = difference_seconds(t.time_since_epoch(), now.time_since_epoch());
    if (!(left > 0)) return steady_now;
    if (left >= forever_seconds) return no_deadline;
    // |t - now| < forever_seconds: both fit in their common type, the difference is exact.
    return add_saturating(steady_now, saturating_ns(t - now));
  }
}

// Runs `wait(steady_deadline)` — true: the wait succeeded (lock taken, notified, ...); false: its
// deadline passed — until it succeeds or `t`'s own clock has reached t. Returns the last result.
template <class Clock, class Duration, class Wait>
bool wait_until_clock(const std::chrono::time_point<Clock, Duration>& t, Wait&& wait) {
  WEFT_REQUIRE_CLOCK(Clock);
  for (;;) {
    if (wait(deadline_at(t))) return true;
    if constexpr (std::is_same_v<Clock, clock>) {
      return false;  // the steady deadline *is* t
    } else {
      if (reached(t)) return false;
    }
  }
}

// A timespec as nanoseconds, clamped (POSIX callers: sleeps, socket timeouts, poll timeouts).
constexpr std::int64_t timespec_ns(const std::timespec& ts) noexcept {
  std::int64_t s_ns = 0, sum = 0;
  if (__builtin_mul_overflow(static_cast<std::int64_t>(ts.tv_sec), std::int64_t{1'000'000'000}, &s_ns))
    return ts.tv_sec > 0 ? time_detail::ns_max : time_detail::ns_min;
  if (__builtin_add_overflow(s_ns, static_cast<std::int64_t>(ts.tv_nsec), &sum)) return time_detail::ns_max;
  return sum;
}

// The steady deadline `ns` nanoseconds from now (ns <= 0: expired).
inline clock::time_point deadline_after_ns(std::int64_t ns) noexcept {
  return ns <= 0 ? clock::now() : add_saturating(clock::now(), ns);
}

}  // namespace fiber::detail
