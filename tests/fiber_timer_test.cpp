// Sleeping and timers: never early, wakes soon after the deadline, order, many sleepers, OS threads.
#include <fiber/fiber.hpp>

#include <gtest/gtest.h>

#include "test_scale.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <vector>

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

TEST(Timer, SleepForIsNeverShortAndWakesSoonAfter) {
  auto late = fiber::run([] {
    auto t0 = steady::now();
    fiber::this_fiber::sleep_for(30ms);
    return steady::now() - t0;
  });
  EXPECT_GE(late, 30ms);
  EXPECT_LT(late, 1s);  // generous: "within a few ms" on an idle machine, CI may be loaded
}

TEST(Timer, SleepUntilWithSystemClockAndPastDeadlines) {
  fiber::run([] {
    auto target = std::chrono::system_clock::now() + 20ms;
    fiber::this_fiber::sleep_until(target);
    EXPECT_GE(std::chrono::system_clock::now(), target);
    auto t0 = steady::now();
    fiber::this_fiber::sleep_until(steady::now() - 1s);  // in the past: returns at once
    fiber::this_fiber::sleep_for(-5ms);
    EXPECT_LT(steady::now() - t0, 500ms);
  });
}

TEST(Timer, SleepersWakeInDeadlineOrder) {
  fiber::runtime rt({.workers = 1});
  std::vector<int> order;
  rt.run([&] {
    std::vector<fiber::join_handle<void>> hs;
    for (int i : {5, 1, 4, 2, 3}) {
      hs.push_back(fiber::spawn([&order, i] {
        fiber::this_fiber::sleep_for(std::chrono::milliseconds(10 * i));
        order.push_back(i);
      }));
    }
    for (auto& h : hs) h.join();
  });
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4, 5}));
}

TEST(Timer, TenThousandConcurrentSleepersAllWake) {
  const int n = static_cast<int>(weft_test::scaled(10'000));
  std::atomic<int> woke{0};
  auto t0 = steady::now();
  fiber::run([&] {
    std::vector<fiber::join_handle<void>> hs;
    hs.reserve(n);
    for (int i = 0; i < n; ++i) {
      hs.push_back(fiber::spawn([&woke, i] {
        fiber::this_fiber::sleep_for(std::chrono::milliseconds(50 + i % 50));
        woke++;
      }));
    }
    for (auto& h : hs) h.join();
  });
  EXPECT_EQ(woke.load(), n);
  EXPECT_GE(steady::now() - t0, 50ms);
}

TEST(Timer, OsThreadSleepsThroughTheSameApi) {
  auto t0 = steady::now();
  fiber::this_thread::sleep_for(15ms);
  EXPECT_GE(steady::now() - t0, 15ms);
  fiber::this_thread::yield();  // a plain std::this_thread::yield here
}
