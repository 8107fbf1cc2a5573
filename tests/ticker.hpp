// ticker.hpp — the liveness probe of the file-responsiveness tests (fs_responsive_test.cpp,
// hook/file_hook_test.cpp): a 1 ms ticker fiber beside slow work on a one-worker runtime. Only
// liveness is judged: no gap between ticks above a generous bound, and ticks all through the slow
// call (a blocked worker would tick zero times). Sizes of the slow work: WEFT_FS_RESPONSIVE_MIB.
#pragma once

#include <gtest/gtest.h>

#include "test_scale.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fiber/fiber.hpp>
#include <vector>

namespace weft_test {

using steady = std::chrono::steady_clock;

// The largest gap allowed between ticks: 100 ms (the blocking call takes hundreds), 400 ms in the
// sanitizer runs (test_scale.hpp), where a worker of a loaded 2-core machine can be off its core
// that long. A blocked worker still fails there: it ticks zero times during the slow call.
inline std::chrono::milliseconds allowed_gap() {
  return std::chrono::milliseconds(stress_divisor() > 1 ? 400 : 100);
}

inline std::size_t responsive_mib() {
  const char* env = std::getenv("WEFT_FS_RESPONSIVE_MIB");
  const int v = env ? std::atoi(env) : 0;
  return static_cast<std::size_t>(v > 0 ? v : 128);
}

inline long long ms(steady::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

struct ticks {
  steady::duration worst_gap{};
  std::vector<steady::time_point> at;
  // Ticks that happened inside [from, to].
  long during(steady::time_point from, steady::time_point to) const {
    return static_cast<long>(std::count_if(at.begin(), at.end(), [&](auto t) { return t >= from && t <= to; }));
  }
};

// Runs `work` on a fiber next to a 1 ms ticker on a one-worker runtime; returns the ticks.
template <class Work>
ticks with_ticker(Work work) {
  fiber::runtime rt({.workers = 1});
  return rt.run([&] {
    std::atomic<bool> done{false};
    auto ticker = fiber::spawn([&] {
      ticks t;
      t.at.reserve(100'000);
      auto last = steady::now();
      while (!done.load(std::memory_order_relaxed)) {
        fiber::this_fiber::sleep_for(std::chrono::milliseconds(1));
        const auto now = steady::now();
        t.worst_gap = std::max(t.worst_gap, now - last);
        t.at.push_back(now);
        last = now;
      }
      return t;
    });
    fiber::this_fiber::sleep_for(std::chrono::milliseconds(5));
    work();
    done = true;
    return ticker.join();
  });
}

// The liveness judged: no gap above the bound, and at least one tick per 20 ms of the slow call.
inline void expect_live(const ticks& t, steady::time_point from, steady::time_point to) {
  EXPECT_LT(t.worst_gap, allowed_gap());
  const auto slow = ms(to - from);
  EXPECT_GE(t.during(from, to), slow / 20) << "the slow call took " << slow << " ms";
}

}  // namespace weft_test
