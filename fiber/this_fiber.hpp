// this_fiber.hpp — the calling fiber: yield, sleep, identity. `fiber::this_thread` names the same
// functions, so code written against std::this_thread ports by changing the namespace.
//
//   fiber::this_fiber::sleep_for(10ms);   // parks this fiber; its worker runs others meanwhile
//
// Called outside any fiber (main, a plain thread) they act on the calling OS thread, exactly as
// std::this_thread does. Sleeps on a fiber use its worker's timer heap and wake within about a
// millisecond of the deadline on an idle machine; a sleep is never cut short.
#pragma once

#include <fiber/fiber_id.hpp>
#include <fiber/detail/park.hpp>

#include <chrono>

namespace fiber {
namespace detail {
void sleep_until_steady(clock::time_point deadline);
}

namespace this_fiber {

void yield() noexcept;
fiber_id get_id() noexcept;

template <class Clock, class Duration>
void sleep_until(const std::chrono::time_point<Clock, Duration>& t) {
  // Other clocks may run at another rate or jump: sleep in steady slices until that clock says so.
  detail::wait_until_clock(t, [](detail::clock::time_point deadline) {
    detail::sleep_until_steady(deadline);
    return false;
  });
}

template <class Rep, class Period>
void sleep_for(const std::chrono::duration<Rep, Period>& d) {
  if (!(d > d.zero())) return;
  detail::sleep_until_steady(detail::deadline_after(d));  // minutes::max() sleeps forever
}

}  // namespace this_fiber

namespace this_thread = this_fiber;

}  // namespace fiber
