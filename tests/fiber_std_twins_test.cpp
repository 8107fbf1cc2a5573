// The std::thread contract, checked against fiber::thread / jthread / spawn as the standard words it
// ([thread.thread.constr], [thread.jthread.cons], [thread.thread.id]): arguments are decay-copied
// once in the constructing thread (std::ref stays a reference_wrapper), the call receives rvalues,
// the callable is moved exactly as often as std::thread moves it, ids compare through namespace-scope
// operators and print to narrow and wide streams; sleeps saturate at the extremes.
#include <fiber/fiber.hpp>

#include <gtest/gtest.h>

#include "half_speed_clock.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>

using namespace std::chrono_literals;

namespace {

// Counts how often it is copied and moved.
struct counted {
  static inline std::atomic<int> copies{0}, moves{0};
  static void reset() { copies = moves = 0; }
  counted() = default;
  counted(const counted&) { ++copies; }
  counted(counted&&) noexcept { ++moves; }
  void operator()() const {}
};

TEST(StdTwins, RefArgumentsReachReferenceParameters) {
  int x = 0;
  fiber::thread t([](int& r) { r = 1; }, std::ref(x));
  t.join();
  EXPECT_EQ(x, 1);

  {
    fiber::jthread j([](int& r) { r = 2; }, std::ref(x));
  }
  EXPECT_EQ(x, 2);

  fiber::spawn([](int& r) { r = 3; }, std::ref(x)).join();
  EXPECT_EQ(x, 3);

  const std::string s = "const";
  auto len = fiber::spawn([](const std::string& r) { return r.size(); }, std::cref(s)).join();
  EXPECT_EQ(len, 5u);
  // The referenced object itself, not a copy.
  const std::string* seen = nullptr;
  fiber::spawn([&seen](const std::string& r) { seen = &r; }, std::cref(s)).join();
  EXPECT_EQ(seen, &s);
}

TEST(StdTwins, CalleeTakingReferenceWrapperReceivesIt) {
  int x = 5;
  bool got_wrapper = false;
  fiber::thread t(
      [&](std::reference_wrapper<int> r) {
        got_wrapper = &r.get() == &x;
        r.get() = 6;
      },
      std::ref(x));
  t.join();
  EXPECT_TRUE(got_wrapper);
  EXPECT_EQ(x, 6);
}

TEST(StdTwins, ArgumentsAreDecayCopiedInTheCaller) {
  // [thread.thread.constr]: the copies are made in the constructing thread, so a temporary that
  // dies right after the constructor is safe and later changes to the original are not seen.
  std::string original = "before";
  std::atomic<bool> go{false};
  auto h = fiber::spawn(
      [&go](std::string copy) {
        while (!go.load()) fiber::this_fiber::yield();
        return copy;
      },
      original);
  original = "after";
  go = true;
  EXPECT_EQ(h.join(), "before");

  // An array argument decays to a pointer, a function to a function pointer.
  const char text[] = "abc";
  EXPECT_EQ(fiber::spawn([](const char* p) { return std::string(p); }, text).join(), "abc");
}

TEST(StdTwins, CallReceivesRvalues) {
  // INVOKE(std::move(f), std::move(args)...): an rvalue-only parameter binds, an lvalue one would not.
  auto h = fiber::spawn([](std::unique_ptr<int>&& p) { return *p; }, std::make_unique<int>(41));
  EXPECT_EQ(h.join(), 41);
  struct rvalue_only {
    int operator()() && { return 7; }
  };
  EXPECT_EQ(fiber::spawn(rvalue_only{}).join(), 7);
}

TEST(StdTwins, ThreadNeverPassesAStopToken) {
  // std::thread calls f(args...) exactly: a generic callable must not receive a stop_token.
  std::size_t count = 99;
  fiber::thread t([&count](auto&&... a) { count = sizeof...(a); });
  t.join();
  EXPECT_EQ(count, 0u);
  // jthread passes its token to a callable that takes one first (std::jthread does too).
  bool had_token = false;
  {
    fiber::jthread j([&had_token](std::stop_token st) { had_token = st.stop_possible(); });
  }
  EXPECT_TRUE(had_token);
}

struct runner {
  int runs = 0;
  void run(std::stop_token st) { runs += st.stop_possible() ? 1 : 100; }
  void run_args(std::stop_token st, int a, int b) { runs += st.stop_possible() ? a + b : -1; }
};

TEST(StdTwins, JthreadPassesTheTokenAfterAMemberFunctionsObject) {
  // libstdc++ accepts jthread{&X::run, &x} for `void X::run(std::stop_token)`: the token goes after
  // the object argument. Ported code relies on it.
  runner r;
  { fiber::jthread j{&runner::run, &r}; }
  { fiber::jthread j{&runner::run_args, &r, 2, 3}; }
  EXPECT_EQ(r.runs, 6);
}

TEST(StdTwins, ThreadDiscardsAnyReturnType) {
  static int target = 0;
  fiber::thread t([]() -> int& { return target; });  // std::thread ignores results of any type
  t.join();
  fiber::jthread j([] { return std::string("ignored"); });
}

TEST(StdTwins, CallableIsMovedAsOftenAsStdThreadMovesIt) {
  counted::reset();
  std::thread st{counted{}};
  st.join();
  const int std_moves = counted::moves, std_copies = counted::copies;

  counted::reset();
  fiber::thread ft{counted{}};
  ft.join();
  EXPECT_EQ(counted::copies.load(), std_copies);
  EXPECT_EQ(counted::moves.load(), std_moves);
  EXPECT_LE(counted::moves.load(), 1);

  counted::reset();
  fiber::spawn(counted{}).join();
  EXPECT_LE(counted::moves.load(), 1);
  EXPECT_EQ(counted::copies.load(), 0);

  counted::reset();
  { fiber::jthread j{counted{}}; }
  EXPECT_LE(counted::moves.load(), 1);
  EXPECT_EQ(counted::copies.load(), 0);

  // An lvalue is copied once and never moved.
  counted::reset();
  counted lvalue;
  fiber::thread t2(lvalue);
  t2.join();
  EXPECT_EQ(counted::copies.load(), 1);
  EXPECT_EQ(counted::moves.load(), 0);
}

TEST(StdTwins, ArgumentsAreMovedOnceToo) {
  counted::reset();
  fiber::spawn([](const counted&) {}, counted{}).join();
  EXPECT_EQ(counted::moves.load(), 1);
  EXPECT_EQ(counted::copies.load(), 0);
}

struct converts_to_id {
  fiber::thread::id id;
  operator fiber::thread::id() const { return id; }  // NOLINT(google-explicit-constructor)
};

TEST(StdTwins, IdComparisonsAreNamespaceScopeOperators) {
  fiber::thread::id none;
  fiber::thread::id mine = fiber::spawn([] { return fiber::this_fiber::get_id(); }).join();
  EXPECT_TRUE(fiber::operator==(none, fiber::thread::id()));
  EXPECT_FALSE(fiber::operator==(none, mine));
  EXPECT_TRUE(fiber::operator<=>(none, mine) != 0);
  // A type that converts to id compares through the same operators.
  converts_to_id c{mine};
  EXPECT_TRUE(c == mine);
  EXPECT_TRUE(mine == c);
  EXPECT_TRUE(none < c || c < none);
  EXPECT_EQ(std::hash<fiber::thread::id>{}(mine), std::hash<fiber::thread::id>{}(c));
}

TEST(StdTwins, IdPrintsToNarrowAndWideStreams) {
  fiber::thread::id mine = fiber::spawn([] { return fiber::this_fiber::get_id(); }).join();
  std::ostringstream narrow;
  std::wostringstream wide;
  narrow << mine;
  wide << mine;
  const std::string text = narrow.str();
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(std::wstring(text.begin(), text.end()), wide.str());
  std::ostringstream a, b;
  a << fiber::thread::id();
  b << mine;
  EXPECT_NE(a.str(), b.str());  // a default id prints differently from every real one
}

TEST(StdTwins, SleepForTheLongestDurationDoesNotReturn) {
  // minutes::max() overflows a naive now() + d into the past; it must sleep (practically) forever.
  std::atomic<bool> woke{false};
  auto h = fiber::spawn([&] {
    fiber::this_thread::sleep_for(std::chrono::minutes::max());
    woke = true;
  });
  fiber::this_thread::sleep_for(100ms);
  EXPECT_FALSE(woke.load());
  EXPECT_FALSE(h.is_finished());
  h.detach();  // parked for good; the process ends around it

  std::atomic<bool> thread_woke{false};
  std::thread([&] {
    fiber::this_thread::sleep_for(std::chrono::hours::max());
    thread_woke = true;
  }).detach();
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(thread_woke.load());
}

TEST(StdTwins, SleepUntilTheEarliestTimeReturnsAtOnce) {
  auto start = std::chrono::steady_clock::now();
  fiber::spawn([] {
    fiber::this_thread::sleep_until(std::chrono::system_clock::time_point::min());
    fiber::this_thread::sleep_until(std::chrono::steady_clock::time_point::min());
    fiber::this_thread::sleep_for(std::chrono::nanoseconds::min());
    fiber::this_thread::sleep_for(std::chrono::duration<double>(-1e300));
    fiber::this_thread::sleep_until(std::chrono::time_point<std::chrono::system_clock, std::chrono::hours>::min());
  }).join();
  fiber::this_thread::sleep_until(std::chrono::system_clock::time_point::min());  // on an OS thread
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

using weft_test::half_speed_clock;

TEST(StdTwins, SleepUntilOnASlowClockWaitsForThatClock) {
  fiber::spawn([] {
    const auto target = half_speed_clock::now() + 30ms;  // 60 ms of steady time
    fiber::this_thread::sleep_until(target);
    EXPECT_GE(half_speed_clock::now(), target);
  }).join();
}

}  // namespace
