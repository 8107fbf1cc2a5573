// half_speed_clock.hpp — a Cpp17Clock that runs at half the speed of steady_clock. A timed wait that
// converts its deadline to steady_clock once, at the call, times out when only half the time has
// passed on this clock; the standard says a wait ends only when the clock given reaches the time.
#pragma once

#include <chrono>
#include <cstdint>

namespace weft_test {

struct half_speed_clock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<half_speed_clock>;
  static constexpr bool is_steady = false;
  static time_point now() noexcept { return time_point(std::chrono::steady_clock::now().time_since_epoch() / 2); }
};

}  // namespace weft_test
