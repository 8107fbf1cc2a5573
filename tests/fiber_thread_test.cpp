// fiber::thread / fiber::jthread: the std::thread and std::jthread contracts on fibers.
#include <fiber/fiber.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <unordered_set>

using namespace std::chrono_literals;

TEST(Thread, DefaultConstructedIsNotJoinable) {
  fiber::thread t;
  EXPECT_FALSE(t.joinable());
  EXPECT_EQ(t.get_id(), fiber::thread::id());
  EXPECT_THROW(t.join(), std::system_error);
  EXPECT_THROW(t.detach(), std::system_error);
}

TEST(Thread, RunsJoinsAndReportsItsId) {
  fiber::thread::id inside;
  int value = 0;
  fiber::thread t(
      [&](int v) {
        inside = fiber::this_thread::get_id();
        value = v;
      },
      11);
  auto id = t.get_id();
  EXPECT_TRUE(t.joinable());
  t.join();
  EXPECT_EQ(value, 11);
  EXPECT_EQ(inside, id);
  EXPECT_FALSE(t.joinable());
  std::unordered_set<fiber::thread::id> set{id};
  EXPECT_EQ(set.count(inside), 1u);
}

TEST(Thread, MoveAndSwap) {
  std::atomic<int> ran{0};
  fiber::thread a([&] { ran++; });
  fiber::thread b = std::move(a);
  EXPECT_FALSE(a.joinable());
  EXPECT_TRUE(b.joinable());
  fiber::thread c;
  swap(b, c);
  c.join();
  EXPECT_EQ(ran.load(), 1);
  EXPECT_GE(fiber::thread::hardware_concurrency(), 1u);
}

TEST(Thread, DetachLetsItFinish) {
  std::atomic<bool> done{false};
  fiber::thread t([&] {
    fiber::this_thread::sleep_for(5ms);
    done = true;
  });
  t.detach();
  EXPECT_FALSE(t.joinable());
  for (int i = 0; i < 2000 && !done; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(done.load());
}

TEST(JThread, RequestsStopAndJoinsOnDestruction) {
  std::atomic<int> iterations{0};
  std::atomic<bool> exited{false};
  {
    fiber::jthread t([&](std::stop_token st) {
      while (!st.stop_requested()) {
        iterations++;
        fiber::this_thread::sleep_for(1ms);
      }
      exited = true;
    });
    std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(t.get_stop_token().stop_possible());
  }
  EXPECT_TRUE(exited.load());  // the destructor joined
  EXPECT_GE(iterations.load(), 1);
}

TEST(JThread, StopSourceIsSharedWithTheFiber) {
  fiber::jthread t([](std::stop_token st) {
    while (!st.stop_requested()) fiber::this_thread::sleep_for(1ms);
  });
  auto src = t.get_stop_source();
  EXPECT_FALSE(src.stop_requested());
  EXPECT_TRUE(t.request_stop());
  EXPECT_TRUE(src.stop_requested());
  t.join();
}

TEST(ThreadDeath, DestroyingAJoinableThreadTerminates) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH({ fiber::thread t([] { fiber::this_thread::sleep_for(1s); }); }, "");
}

TEST(ThreadDeath, ExceptionEscapingAThreadTerminatesWithItsMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        fiber::thread t([] { throw std::runtime_error("escaped-thread-fn"); });
        t.join();
      },
      "escaped-thread-fn");
}

TEST(SpawnDeath, DetachedFiberExceptionEndsTheProcessNamingTheFiber) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        fiber::spawn({.name = "doomed-worker"}, [] { throw std::logic_error("detached-boom"); });
        std::this_thread::sleep_for(5s);
      },
      "doomed-worker.*detached-boom");
}

namespace {
int recurse(int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  return depth <= 0 ? frame[0] : recurse(depth - 1) + frame[0];
}
}  // namespace

TEST(SpawnDeath, StackOverflowIsReportedWithNameAndSize) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto h = fiber::spawn({.name = "too-deep", .stack_size = 64 * 1024}, [] { return recurse(1 << 20); });
        h.join();
      },
      "stack overflow in fiber 'too-deep' \\(id [0-9]+\\), stack size [0-9]+ bytes");
}
