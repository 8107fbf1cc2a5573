// deadline.hpp — the time limit every blocking net/ call accepts as its last parameter.
//
//   s.read_some(buf, 2s);                          // a timeout: now + 2 s, fixed when the call starts
//   s.read_some(buf, ec, clock::now() + 500ms);    // a deadline (steady clock time point)
//   s.read_some(buf);                              // no limit (default)
//
// A `deadline` converts implicitly from any std::chrono::duration (relative, measured from the moment
// the argument is built) and from a steady_clock time_point (absolute). A call that reaches its
// deadline fails with std::errc::timed_out. Composite calls (write_all, read_exact, connect to a name
// with several addresses) share one deadline across all their steps.
#pragma once

#include <chrono>
#include <fiber/detail/deadline.hpp>

namespace fiber::net {

using clock = fiber::detail::clock;

class deadline {
 public:
  constexpr deadline() noexcept = default;
  deadline(clock::time_point when) noexcept : when_(when) {}  // NOLINT(google-explicit-constructor)
  template <class Rep, class Period>
  deadline(std::chrono::duration<Rep, Period> d) noexcept  // NOLINT(google-explicit-constructor)
      : when_(from_now(d)) {}

  static constexpr deadline none() noexcept { return deadline(); }
  clock::time_point when() const noexcept { return when_; }
  bool is_none() const noexcept { return when_ == fiber::detail::no_deadline; }
  bool expired() const noexcept { return !is_none() && clock::now() >= when_; }

 private:
  template <class Rep, class Period>
  static clock::time_point from_now(std::chrono::duration<Rep, Period> d) noexcept {
    return fiber::detail::deadline_after(d);  // saturating: hours::max() is no deadline
  }
  clock::time_point when_ = fiber::detail::no_deadline;
};

}  // namespace fiber::net
