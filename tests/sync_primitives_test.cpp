// semaphores, latch, barrier, wait_group, call_once — from fibers and OS threads.
#include <sync/barrier.hpp>
#include <sync/call_once.hpp>
#include <sync/latch.hpp>
#include <sync/semaphore.hpp>
#include <sync/wait_group.hpp>

#include <fiber/fiber.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST(Semaphore, CountsAndTimedAcquire) {
  fiber::counting_semaphore<10> s(3);
  static_assert(fiber::counting_semaphore<10>::max() >= 10);
  EXPECT_TRUE(s.try_acquire());
  EXPECT_TRUE(s.try_acquire());
  EXPECT_TRUE(s.try_acquire());
  EXPECT_FALSE(s.try_acquire());
  EXPECT_FALSE(fiber::spawn([&] { return s.try_acquire_for(10ms); }).join());
  bool from_thread = true;
  std::thread([&] { from_thread = s.try_acquire_until(std::chrono::system_clock::now() + 10ms); }).join();
  EXPECT_FALSE(from_thread);
  s.release(2);
  EXPECT_TRUE(s.try_acquire_for(1ms));
  EXPECT_TRUE(s.try_acquire());
  EXPECT_FALSE(s.try_acquire());
}

TEST(Semaphore, BoundsConcurrencyAcrossFibersAndThreads) {
  fiber::counting_semaphore<> s(3);
  std::atomic<int> inside{0}, peak{0}, done{0};
  auto body = [&] {
    for (int i = 0; i < 20; ++i) {
      s.acquire();
      int now = ++inside;
      int p = peak.load();
      while (now > p && !peak.compare_exchange_weak(p, now)) {
      }
      fiber::this_fiber::sleep_for(1ms);  // long enough that holders overlap even on slow builds
      --inside;
      s.release();
    }
    ++done;
  };
  std::vector<fiber::join_handle<void>> hs;
  for (int i = 0; i < 40; ++i) hs.push_back(fiber::spawn(body));
  std::thread t1(body), t2(body);
  for (auto& h : hs) h.join();
  t1.join();
  t2.join();
  EXPECT_EQ(done.load(), 42);
  EXPECT_LE(peak.load(), 3);
  EXPECT_GE(peak.load(), 2);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(s.try_acquire());
  EXPECT_FALSE(s.try_acquire());
}

TEST(Semaphore, BinaryAsSignal) {
  fiber::binary_semaphore ping(0), pong(0);
  int rounds = 0;
  std::thread t([&] {
    for (int i = 0; i < 200; ++i) {
      ping.acquire();
      pong.release();
    }
  });
  fiber::run([&] {
    for (int i = 0; i < 200; ++i) {
      ping.release();
      pong.acquire();
      ++rounds;
    }
  });
  t.join();
  EXPECT_EQ(rounds, 200);
}

TEST(Latch, ReleasesAllAtZero) {
  fiber::latch l(5);
  EXPECT_FALSE(l.try_wait());
  std::atomic<int> passed{0};
  std::vector<fiber::join_handle<void>> hs;
  for (int i = 0; i < 4; ++i)
    hs.push_back(fiber::spawn([&] {
      l.arrive_and_wait();
      ++passed;
    }));
  std::thread t([&] {
    l.wait();
    ++passed;
  });
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(passed.load(), 0);
  EXPECT_FALSE(l.try_wait());
  l.count_down();  // the fifth arrival
  for (auto& h : hs) h.join();
  t.join();
  EXPECT_EQ(passed.load(), 5);
  EXPECT_TRUE(l.try_wait());
  l.wait();  // returns at once
}

TEST(Barrier, PhasesAndCompletion) {
  constexpr int parties = 6, phases = 50;
  std::atomic<int> completions{0};
  std::vector<int> arrived_in_phase(phases, 0);
  std::atomic<int> current{0};
  std::atomic<bool> bad{false};
  fiber::barrier b(parties, [&]() noexcept {
    if (arrived_in_phase[current] != parties) bad = true;
    ++completions;
    ++current;
  });
  std::atomic<int> counter_lock{0};
  auto body = [&] {
    for (int p = 0; p < phases; ++p) {
      if (current.load() != p) bad = true;  // nobody runs ahead of the phase
      while (counter_lock.exchange(1)) std::this_thread::yield();
      ++arrived_in_phase[p];
      counter_lock = 0;
      b.arrive_and_wait();
    }
  };
  std::vector<fiber::join_handle<void>> hs;
  for (int i = 0; i < parties - 1; ++i) hs.push_back(fiber::spawn(body));
  std::thread t(body);
  for (auto& h : hs) h.join();
  t.join();
  EXPECT_EQ(completions.load(), phases);
  EXPECT_FALSE(bad.load());
}

TEST(Barrier, ArriveWaitAndDrop) {
  int completions = 0;
  fiber::barrier b(3, [&]() noexcept { ++completions; });
  auto dropper = fiber::spawn([&] { b.arrive_and_drop(); });
  auto waiter = fiber::spawn([&] {
    auto tok = b.arrive();
    b.wait(std::move(tok));
    b.arrive_and_wait();  // phase 2: only 2 parties now
  });
  b.arrive_and_wait();
  b.arrive_and_wait();
  dropper.join();
  waiter.join();
  EXPECT_EQ(completions, 2);
}

TEST(WaitGroup, WaitsForAllAndTimesOut) {
  fiber::wait_group wg;
  std::atomic<int> done{0};
  wg.add(50);
  for (int i = 0; i < 50; ++i)
    fiber::spawn([&, i] {
      fiber::this_fiber::sleep_for(std::chrono::microseconds(100 * (i % 10)));
      ++done;
      wg.done();
    });
  wg.wait();
  EXPECT_EQ(done.load(), 50);
  EXPECT_TRUE(wg.wait_for(1ms));  // counter is zero: immediate

  wg.add();
  EXPECT_FALSE(fiber::spawn([&] { return wg.wait_for(10ms); }).join());
  std::thread t([&] { wg.wait(); });  // an OS thread waiting
  fiber::run([&] { wg.done(); });
  t.join();
  EXPECT_EQ(wg.count(), 0);
}

TEST(WaitGroup, NegativeCounterThrows) {
  fiber::wait_group wg;
  EXPECT_THROW(wg.done(), std::logic_error);
  wg.add(2);
  EXPECT_THROW(wg.add(-3), std::logic_error);
  EXPECT_EQ(wg.count(), 2);
  wg.add(-2);
  wg.wait();
}

TEST(CallOnce, RunsOnceAndRetriesAfterException) {
  fiber::once_flag flag;
  std::atomic<int> calls{0};
  std::vector<fiber::join_handle<void>> hs;
  for (int i = 0; i < 50; ++i)
    hs.push_back(fiber::spawn([&] {
      fiber::call_once(flag, [&] {
        fiber::this_fiber::sleep_for(5ms);  // others park meanwhile
        ++calls;
      });
    }));
  std::thread t([&] { fiber::call_once(flag, [&] { ++calls; }); });
  for (auto& h : hs) h.join();
  t.join();
  EXPECT_EQ(calls.load(), 1);

  fiber::once_flag retry;
  int attempts = 0;
  EXPECT_THROW(fiber::call_once(retry,
                                [&] {
                                  ++attempts;
                                  throw std::runtime_error("first fails");
                                }),
               std::runtime_error);
  fiber::call_once(
      retry, [&](int add) { attempts += add; }, 10);
  fiber::call_once(retry, [&] { attempts += 100; });
  EXPECT_EQ(attempts, 11);
}
