// fiber_local<T> isolation and lifetime; fiber::blocking offloads without stalling the worker.
#include <fiber/fiber.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {
fiber::fiber_local<int> counter;
fiber::fiber_local<std::string> label(std::string("unset"));

std::atomic<int> live_trackers{0};
struct tracker {
  tracker() { live_trackers++; }
  ~tracker() { live_trackers--; }
  int hits = 0;
};
fiber::fiber_local<tracker> tracked;
}  // namespace

TEST(FiberLocal, EachFiberHasItsOwnValue) {
  fiber::runtime rt({.workers = 2});
  std::atomic<int> bad{0};
  rt.run([&] {
    std::vector<fiber::join_handle<void>> hs;
    for (int i = 0; i < 100; ++i) {
      hs.push_back(fiber::spawn([&, i] {
        EXPECT_EQ(*label, "unset");
        label = "fiber-" + std::to_string(i);
        for (int k = 0; k < 10; ++k) {
          ++*counter;
          fiber::this_fiber::yield();
        }
        if (*counter != 10 || *label != "fiber-" + std::to_string(i)) bad++;
      }));
    }
    for (auto& h : hs) h.join();
  });
  EXPECT_EQ(bad.load(), 0);
}

TEST(FiberLocal, ValuesAreDestroyedWhenTheFiberEnds) {
  fiber::run([] {
    auto h = fiber::spawn([] { tracked->hits++; });
    h.join();
  });
  EXPECT_EQ(live_trackers.load(), 0);
}

TEST(FiberLocal, OutsideFibersItIsPerThread) {
  *counter = 5;
  int other = -1;
  std::thread t([&] { other = *counter; });
  t.join();
  EXPECT_EQ(other, 0);
  EXPECT_EQ(*counter, 5);
}

TEST(Blocking, RunsOnAnotherThreadAndReturnsTheResult) {
  fiber::runtime rt({.workers = 1});
  rt.run([] {
    auto me = std::this_thread::get_id();
    auto there = fiber::blocking([] { return std::this_thread::get_id(); });
    EXPECT_NE(there, me);
    EXPECT_THROW(fiber::blocking([]() -> int { throw std::runtime_error("offloaded"); }), std::runtime_error);
    EXPECT_EQ(fiber::blocking([] { return 6 * 7; }), 42);
  });
}

TEST(Blocking, OtherFibersKeepRunningMeanwhile) {
  fiber::runtime rt({.workers = 1});
  auto progress = rt.run([] {
    std::atomic<bool> done{false};
    std::atomic<int> ticks{0};
    auto ticker = fiber::spawn([&] {
      while (!done) {
        ticks++;
        fiber::this_fiber::sleep_for(1ms);
      }
    });
    fiber::blocking([] { std::this_thread::sleep_for(200ms); });  // would stall the only worker
    done = true;
    ticker.join();
    return ticks.load();
  });
  EXPECT_GE(progress, 10);
}
