// fiber::condition_variable(_any): predicate waits across fibers/threads, timeouts, notify_one vs
// notify_all wake counts, stop_token waits.
#include <sync/condition_variable.hpp>
#include <sync/mutex.hpp>
#include <sync/shared_mutex.hpp>

#include <fiber/fiber.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <stop_token>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST(ConditionVariable, FiberWaitsThreadNotifiesAndBack) {
  fiber::mutex m;
  fiber::condition_variable cv;
  int stage = 0;
  auto f = fiber::spawn([&] {
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return stage == 1; });
    stage = 2;
    cv.notify_all();
  });
  std::thread t([&] {
    {
      std::lock_guard g(m);
      stage = 1;
    }
    cv.notify_one();
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return stage == 2; });  // an OS thread waiting on what a fiber signals
  });
  f.join();
  t.join();
  EXPECT_EQ(stage, 2);
}

TEST(ConditionVariable, TimedWaitsTimeOut) {
  fiber::mutex m;
  fiber::condition_variable cv;
  fiber::run([&] {
    std::unique_lock lk(m);
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(cv.wait_for(lk, 20ms), fiber::cv_status::timeout);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
    EXPECT_TRUE(lk.owns_lock());
    EXPECT_FALSE(cv.wait_for(lk, 5ms, [] { return false; }));
    EXPECT_EQ(cv.wait_until(lk, std::chrono::system_clock::now() + 5ms), fiber::cv_status::timeout);
  });
  std::unique_lock lk(m);  // and from a plain thread
  EXPECT_EQ(cv.wait_for(lk, 5ms), fiber::cv_status::timeout);
  EXPECT_FALSE(cv.wait_until(lk, std::chrono::steady_clock::now() + 5ms, [] { return false; }));
  EXPECT_TRUE(cv.wait_for(lk, 5ms, [] { return true; }));
}

TEST(ConditionVariable, NotifyOneWakesOneNotifyAllWakesAll) {
  fiber::mutex m;
  fiber::condition_variable cv;
  constexpr int n = 8;
  int waiting = 0, woken = 0;
  std::vector<fiber::join_handle<void>> hs;
  for (int i = 0; i < n; ++i)
    hs.push_back(fiber::spawn([&] {
      std::unique_lock lk(m);
      ++waiting;
      cv.wait(lk);  // no predicate on purpose: counts the wake-ups themselves
      ++woken;
    }));
  std::thread t([&] {  // plus one OS-thread waiter
    std::unique_lock lk(m);
    ++waiting;
    cv.wait(lk);
    ++woken;
  });
  auto count = [&](int& v) {
    std::lock_guard g(m);
    return v;
  };
  while (count(waiting) != n + 1) std::this_thread::sleep_for(1ms);
  cv.notify_one();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(count(woken), 1);
  cv.notify_one();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(count(woken), 2);
  cv.notify_all();
  for (auto& h : hs) h.join();
  t.join();
  EXPECT_EQ(woken, n + 1);
}

TEST(ConditionVariable, SpuriousTolerantProducerConsumer) {
  fiber::mutex m;
  fiber::condition_variable not_empty, not_full;
  std::vector<int> q;
  constexpr int items = 20000, cap = 4;
  long sum = 0;
  auto consumer = fiber::spawn([&] {
    for (int i = 0; i < items; ++i) {
      std::unique_lock lk(m);
      while (q.empty()) not_empty.wait(lk);  // the classic loop
      sum += q.back();
      q.pop_back();
      not_full.notify_one();
    }
  });
  std::thread producer([&] {
    for (int i = 1; i <= items; ++i) {
      std::unique_lock lk(m);
      not_full.wait(lk, [&] { return q.size() < cap; });
      q.push_back(i);
      not_empty.notify_one();
    }
  });
  consumer.join();
  producer.join();
  EXPECT_EQ(sum, long{items} * (items + 1) / 2);
}

TEST(ConditionVariableAny, WorksWithOtherLockables) {
  fiber::shared_mutex sm;
  fiber::timed_mutex tm;
  fiber::condition_variable_any cv;
  bool flag = false;
  auto f = fiber::spawn([&] {
    std::unique_lock lk(tm);
    cv.wait(lk, [&] { return flag; });
  });
  {
    std::lock_guard g(tm);
    flag = true;
  }
  cv.notify_all();
  f.join();
  std::shared_lock rl(sm);
  EXPECT_EQ(cv.wait_for(rl, 5ms), fiber::cv_status::timeout);
}

TEST(ConditionVariableAny, StopTokenWaitWakesOnRequestStop) {
  fiber::mutex m;
  fiber::condition_variable_any cv;
  std::stop_source src;
  auto f = fiber::spawn([&] {
    std::unique_lock lk(m);
    return cv.wait(lk, src.get_token(), [] { return false; });
  });
  std::this_thread::sleep_for(10ms);
  src.request_stop();  // from an OS thread, no notify
  EXPECT_FALSE(f.join());

  // Already requested: returns at once with pred().
  std::unique_lock lk(m);
  EXPECT_TRUE(cv.wait(lk, src.get_token(), [] { return true; }));
  EXPECT_FALSE(cv.wait_for(lk, src.get_token(), 10s, [] { return false; }));

  // Timed stop-token wait that times out, and one released by a stop on the fiber's own token.
  std::stop_source idle;
  EXPECT_FALSE(cv.wait_for(lk, idle.get_token(), 5ms, [] { return false; }));
  lk.unlock();
  auto g = fiber::spawn([&](std::stop_token st) {
    std::unique_lock l2(m);
    return cv.wait_until(l2, st, std::chrono::steady_clock::now() + 10s, [] { return false; });
  });
  std::this_thread::sleep_for(10ms);
  auto t0 = std::chrono::steady_clock::now();
  g.request_stop();
  EXPECT_FALSE(g.join());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST(ConditionVariableAny, StopTokenWaitReturnsTrueWhenNotified) {
  fiber::mutex m;
  fiber::condition_variable_any cv;
  std::stop_source src;
  bool ready = false;
  std::thread t([&] {
    std::unique_lock lk(m);
    EXPECT_TRUE(cv.wait(lk, src.get_token(), [&] { return ready; }));
  });
  fiber::run([&] {
    fiber::this_fiber::sleep_for(5ms);
    {
      std::lock_guard g(m);
      ready = true;
    }
    cv.notify_all();
  });
  t.join();
}
