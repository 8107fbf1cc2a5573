// wait_group.hpp — fiber::wait_group: Go's sync.WaitGroup. Wait until a set of tasks finishes.
//
//   fiber::wait_group wg;
//   for (auto& job : jobs) { wg.add(1); fiber::spawn([&, job] { run(job); wg.done(); }); }
//   wg.wait();                                   // or wg.wait_for(5s) -> false on timeout
//
// Unlike std::latch the counter can go up again after reaching zero (reuse across rounds).
// wait() returns as soon as the counter is zero; it parks a fiber or blocks a plain OS thread.
// Fairness: every waiter is released together when the counter reaches zero.
// Errors: add(n) that would make the counter negative (e.g. one done() too many) throws
// std::logic_error and leaves the counter unchanged.
#pragma once

#include <sync/detail/notify_list.hpp>
#include <sync/detail/wait_list.hpp>

#include <chrono>
#include <cstddef>

namespace fiber {

class wait_group {
 public:
  wait_group() noexcept = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  void add(std::ptrdiff_t n = 1);
  void done() { add(-1); }
  void wait() const noexcept { wait_until_steady(detail::no_deadline); }
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& d) const {
    return wait_until_steady(detail::deadline_after(d));
  }
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>& t) const {
    return detail::wait_until_clock(t, [this](detail::clock::time_point dl) { return wait_until_steady(dl); });
  }
  // The current counter (a snapshot, for diagnostics).
  std::ptrdiff_t count() const noexcept;

 private:
  bool wait_until_steady(detail::clock::time_point deadline) const noexcept;

  mutable detail::notify_list list_;  // its guard also protects count_
  std::ptrdiff_t count_ = 0;
};

}  // namespace fiber
