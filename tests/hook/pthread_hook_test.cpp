// pthread_hook_test.cpp — hook/mutex_hooks.cpp and hook/cond_hooks.cpp: std::mutex, std::recursive_mutex,
// std::timed_mutex, error-checking pthread mutexes and std::condition_variable used by fibers park
// the fiber, not the worker. Most cases run on ONE worker, where blocking the worker would deadlock
// (a sibling fiber holding the mutex, or the notifier, could never run). Every assertion is on values
// and orderings; elapsed times are only lower bounds (a timeout lasted at least its time) or
// generous "did not serialize" bounds. Also: the same calls off any fiber behave like glibc's, and
// the WEFT_HOOK_LOCK_CHECK detector names a fiber that blocks while holding a pthread mutex.
#include <fiber/detail/sanitizers.hpp>  // WEFT_TSAN
#include <gtest/gtest.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fiber/fiber.hpp>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../one_worker.hpp"
#include "tsan_skips.hpp"

using weft_test::one_worker;

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

extern char** environ;

namespace {

fiber::runtime& two_workers() {
  static auto* rt = new fiber::runtime({.workers = 2});
  return *rt;
}

// Yields until `flag` is set (the fibers share one worker: spinning without yielding would hang).
void yield_until(const std::atomic<bool>& flag) {
  while (!flag.load()) fiber::this_fiber::yield();
}

timespec realtime_in(std::chrono::nanoseconds d) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  long long ns = static_cast<long long>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec + d.count();
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  return ts;
}

}  // namespace

// A std::mutex held by fiber A across a hooked sleep while fiber B of the same worker wants it:
// without the hooks B's lock blocks the worker in the kernel and A never wakes up.
TEST(PthreadHook, MutexHeldAcrossHookedSleepOnOneWorker) {
  std::mutex m;
  std::atomic<bool> a_locked{false};
  std::atomic<int> step{0};
  int a_unlocked_at = -1, b_locked_at = -1;
  one_worker().run([&] {
    auto a = fiber::spawn([&] {
      m.lock();
      a_locked = true;
      std::this_thread::sleep_for(50ms);  // nanosleep: hooked
      usleep(20'000);                     // hooked
      a_unlocked_at = step++;
      m.unlock();
    });
    auto b = fiber::spawn([&] {
      yield_until(a_locked);
      m.lock();
      b_locked_at = step++;
      m.unlock();
    });
    a.join();
    b.join();
  });
  EXPECT_EQ(a_unlocked_at, 0);
  EXPECT_EQ(b_locked_at, 1);
}

// Eight fibers on one worker take turns holding a std::mutex across a 50 ms hooked sleep.
TEST(PthreadHook, EightFibersContendAcrossSleepsOnOneWorker) {
  constexpr int n = 8;
  std::mutex m;
  int inside = 0, max_inside = 0, done = 0;
  auto t0 = steady::now();
  one_worker().run([&] {
    std::vector<fiber::join_handle<void>> hs;
    for (int i = 0; i < n; ++i)
      hs.push_back(fiber::spawn([&] {
        std::lock_guard g(m);
        max_inside = std::max(max_inside, ++inside);
        usleep(50'000);
        --inside;
        ++done;
      }));
    for (auto& h : hs) h.join();
  });
  EXPECT_EQ(done, n);
  EXPECT_EQ(max_inside, 1);
  EXPECT_GE(steady::now() - t0, 50ms * n);  // the mutex serialized them
}

// A plain thread holds the mutex until a sibling of the waiting fiber, on the same single worker,
// has run to completion: possible only if the waiting fiber does not block the worker.
TEST(PthreadHook, MutexHeldByAThreadDoesNotBlockTheWorker) {
  std::mutex m;
  std::atomic<bool> thread_locked{false}, sibling_done{false};
  std::thread holder([&] {
    m.lock();
    thread_locked = true;
    while (!sibling_done) std::this_thread::sleep_for(1ms);
    m.unlock();
  });
  while (!thread_locked) std::this_thread::sleep_for(1ms);
  bool sibling_done_before_lock = false;
  one_worker().run([&] {
    auto waiter = fiber::spawn([&] {
      m.lock();
      sibling_done_before_lock = sibling_done.load();
      m.unlock();
    });
    auto sibling = fiber::spawn([&] {
      for (int i = 0; i < 5; ++i) fiber::this_fiber::sleep_for(2ms);
      sibling_done = true;
    });
    waiter.join();
    sibling.join();
  });
  holder.join();
  EXPECT_TRUE(sibling_done_before_lock);
}

TEST(PthreadHook, ConditionVariablePingPongOnOneWorker) {
  SKIP_COND_UNDER_TSAN();
  constexpr int rounds = 10'000;
  std::mutex m;
  std::condition_variable cv;
  int turn = 0;  // 0: ping's turn, 1: pong's
  int pings = 0, pongs = 0;
  one_worker().run([&] {
    auto ping = fiber::spawn([&] {
      for (int i = 0; i < rounds; ++i) {
        std::unique_lock l(m);
        cv.wait(l, [&] { return turn == 0; });
        ++pings;
        turn = 1;
        cv.notify_one();
      }
    });
    auto pong = fiber::spawn([&] {
      for (int i = 0; i < rounds; ++i) {
        std::unique_lock l(m);
        cv.wait(l, [&] { return turn == 1; });
        EXPECT_EQ(pongs + 1, pings);
        ++pongs;
        turn = 0;
        cv.notify_one();
      }
    });
    ping.join();
    pong.join();
  });
  EXPECT_EQ(pings, rounds);
  EXPECT_EQ(pongs, rounds);
}

TEST(PthreadHook, WaitForTimesOutAfterItsTime) {
  SKIP_COND_UNDER_TSAN();
  std::mutex m;
  std::condition_variable cv;
  // Another fiber of the same worker keeps running meanwhile.
  std::atomic<int> ticks{0};
  std::atomic<bool> stop{false};
  one_worker().run([&] {
    auto ticker = fiber::spawn([&] {
      while (!stop) {
        ++ticks;
        fiber::this_fiber::sleep_for(1ms);
      }
    });
    {
      std::unique_lock l(m);
      auto t0 = steady::now();
      EXPECT_EQ(cv.wait_for(l, 60ms), std::cv_status::timeout);  // pthread_cond_clockwait
      EXPECT_GE(steady::now() - t0, 60ms);
      EXPECT_TRUE(l.owns_lock());
      auto s0 = std::chrono::system_clock::now();
      EXPECT_EQ(cv.wait_until(l, s0 + 30ms), std::cv_status::timeout);  // pthread_cond_timedwait
      EXPECT_GE(std::chrono::system_clock::now() - s0, 30ms);
      EXPECT_FALSE(cv.wait_for(l, 10ms, [] { return false; }));
    }
    stop = true;
    ticker.join();
  });
  EXPECT_GT(ticks.load(), 0);
}

TEST(PthreadHook, NotifyAllWakesEveryFiber) {
  SKIP_COND_UNDER_TSAN();
  constexpr int n = 32;
  std::mutex m;
  std::condition_variable cv;
  bool go = false;
  int waiting = 0, woke = 0;
  one_worker().run([&] {
    std::vector<fiber::join_handle<void>> hs;
    for (int i = 0; i < n; ++i)
      hs.push_back(fiber::spawn([&] {
        std::unique_lock l(m);
        ++waiting;
        cv.wait(l, [&] { return go; });
        ++woke;
      }));
    for (;;) {
      {
        std::lock_guard g(m);
        if (waiting == n) break;
      }
      fiber::this_fiber::yield();
    }
    {
      std::lock_guard g(m);
      go = true;
    }
    cv.notify_all();
    for (auto& h : hs) h.join();
  });
  EXPECT_EQ(woke, n);
}

// Fiber and thread waiters on one condition variable; notifications from a thread and a fiber.
TEST(PthreadHook, FibersAndThreadsWaitOnTheSameConditionVariable) {
  SKIP_COND_UNDER_TSAN();
  std::mutex m;
  std::condition_variable cv;
  int generation = 0, woke = 0, entered = 0;
  auto wait_one_generation = [&] {
    std::unique_lock l(m);
    ++entered;
    const int g = generation;
    cv.wait(l, [&] { return generation != g; });
    ++woke;
  };
  for (int round = 0; round < 20; ++round) {
    {
      std::lock_guard g(m);
      woke = 0;
      entered = 0;
    }
    std::thread t1(wait_one_generation), t2(wait_one_generation);
    auto f1 = two_workers().spawn(wait_one_generation);
    auto f2 = two_workers().spawn(wait_one_generation);
    // Notify once every waiter is in (it read `generation`) — from main or from a fiber.
    for (;;) {
      {
        std::lock_guard g(m);
        if (entered == 4) break;
      }
      std::this_thread::sleep_for(1ms);
    }
    auto bump = [&] {
      std::lock_guard g(m);
      ++generation;
    };
    if (round % 2 == 0) {
      bump();
      cv.notify_all();
    } else {
      two_workers().run([&] {
        bump();
        cv.notify_all();
      });
    }
    t1.join();
    t2.join();
    f1.join();
    f2.join();
    EXPECT_EQ(woke, 4);
  }
}

TEST(PthreadHook, ProducerConsumerMixingFibersAndThreads) {
  SKIP_COND_UNDER_TSAN();
  constexpr int per_producer = 5'000;
  constexpr int producers = 4;  // 2 fibers + 2 threads
  constexpr std::size_t capacity = 16;
  std::mutex m;
  std::condition_variable not_empty, not_full;
  std::deque<int> q;
  int producers_left = producers;
  std::vector<int> seen(per_producer * producers, 0);
  auto produce = [&](int p) {
    for (int i = 0; i < per_producer; ++i) {
      std::unique_lock l(m);
      not_full.wait(l, [&] { return q.size() < capacity; });
      q.push_back(p * per_producer + i);
      not_empty.notify_one();
    }
    std::lock_guard g(m);
    if (--producers_left == 0) not_empty.notify_all();
  };
  auto consume = [&] {
    for (;;) {
      std::unique_lock l(m);
      not_empty.wait(l, [&] { return !q.empty() || producers_left == 0; });
      if (q.empty()) return;
      ++seen[static_cast<std::size_t>(q.front())];
      q.pop_front();
      not_full.notify_one();
    }
  };
  auto& rt = two_workers();
  std::vector<fiber::join_handle<void>> fibers;
  fibers.push_back(rt.spawn(produce, 0));
  fibers.push_back(rt.spawn(produce, 1));
  fibers.push_back(rt.spawn(consume));
  fibers.push_back(rt.spawn(consume));
  std::thread tp1(produce, 2), tp2(produce, 3), tc1(consume), tc2(consume);
  for (auto& f : fibers) f.join();
  tp1.join();
  tp2.join();
  tc1.join();
  tc2.join();
  int wrong = 0;
  for (int s : seen) wrong += s != 1;
  EXPECT_EQ(wrong, 0);
  EXPECT_TRUE(q.empty());
}

// glibc's recursive mutex belongs to the worker thread, shared by all its fibers: the hook must
// keep a sibling fiber out while still letting the owner fiber re-enter.
TEST(PthreadHook, RecursiveMutexExcludesSiblingFibers) {
  std::recursive_mutex rm;
  int inside = 0, max_inside = 0, total = 0;
  one_worker().run([&] {
    auto body = [&] {
      for (int i = 0; i < 200; ++i) {
        std::lock_guard g1(rm);
        std::lock_guard g2(rm);      // re-entry by the same fiber
        EXPECT_TRUE(rm.try_lock());  // and once more through try_lock
        max_inside = std::max(max_inside, ++inside);
        fiber::this_fiber::yield();  // the sibling runs now and must not get in
        if (i % 50 == 0) usleep(1'000);
        --inside;
        ++total;
        rm.unlock();
      }
    };
    auto a = fiber::spawn(body);
    auto b = fiber::spawn(body);
    a.join();
    b.join();
  });
  EXPECT_EQ(max_inside, 1);
  EXPECT_EQ(total, 400);
}

TEST(PthreadHook, TryLockFromASiblingFiberFails) {
  std::mutex m;
  std::recursive_mutex rm;
  std::atomic<bool> held{false}, checked{false};
  bool m_try = true, rm_try = true, m_after = false, rm_after = false;
  one_worker().run([&] {
    auto a = fiber::spawn([&] {
      m.lock();
      rm.lock();
      held = true;
      yield_until(checked);
      rm.unlock();
      m.unlock();
    });
    auto b = fiber::spawn([&] {
      yield_until(held);
      m_try = m.try_lock();
      rm_try = rm.try_lock();
      checked = true;
    });
    a.join();
    b.join();
    m_after = m.try_lock();
    rm_after = rm.try_lock();
    if (m_after) m.unlock();
    if (rm_after) rm.unlock();
  });
  EXPECT_FALSE(m_try);
  EXPECT_FALSE(rm_try);
  EXPECT_TRUE(m_after);
  EXPECT_TRUE(rm_after);
}

TEST(PthreadHook, TimedMutexTimesOutWhileASiblingHoldsIt) {
  std::timed_mutex tm;
  std::atomic<bool> held{false}, done{false};
  bool for_result = true, until_result = true, after = false;
  std::chrono::nanoseconds for_took{}, until_took{};
  one_worker().run([&] {
    auto a = fiber::spawn([&] {
      tm.lock();
      held = true;
      yield_until(done);
      tm.unlock();
    });
    auto b = fiber::spawn([&] {
      yield_until(held);
      auto t0 = steady::now();
      for_result = tm.try_lock_for(40ms);  // pthread_mutex_clocklock(CLOCK_MONOTONIC)
      for_took = steady::now() - t0;
      auto s0 = std::chrono::system_clock::now();
      until_result = tm.try_lock_until(s0 + 30ms);  // pthread_mutex_timedlock
      until_took = std::chrono::system_clock::now() - s0;
      done = true;
#ifdef WEFT_TSAN
      // gcc 12's TSan does not intercept pthread_mutex_clocklock: it would take the unlock that follows
      // a successful try_lock_for for a wrong-thread unlock (with plain threads too).
      after = tm.try_lock_until(std::chrono::system_clock::now() + 5s);
#else
      after = tm.try_lock_for(5s);  // a releases it meanwhile
#endif
      if (after) tm.unlock();
    });
    a.join();
    b.join();
  });
  EXPECT_FALSE(for_result);
  EXPECT_FALSE(until_result);
  EXPECT_GE(for_took, 40ms);
  EXPECT_GE(until_took, 30ms);
  EXPECT_TRUE(after);
}

TEST(PthreadHook, ErrorCheckingMutexDeadlockIsPerFiber) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_t em;
  pthread_mutex_init(&em, &attr);
  pthread_mutexattr_destroy(&attr);
  std::atomic<bool> held{false}, checked{false};
  int self_relock = -1, self_trylock = -1, sibling_timed = -1, sibling_try = -1, sibling_unlock = -1;
  int owner_unlock = -1, sibling_lock_after = -1;
  one_worker().run([&] {
    auto a = fiber::spawn([&] {
      EXPECT_EQ(pthread_mutex_lock(&em), 0);
      self_relock = pthread_mutex_lock(&em);
      self_trylock = pthread_mutex_trylock(&em);
      held = true;
      yield_until(checked);
      owner_unlock = pthread_mutex_unlock(&em);
    });
    auto b = fiber::spawn([&] {
      yield_until(held);
      timespec ts = realtime_in(20ms);
      sibling_timed = pthread_mutex_timedlock(&em, &ts);
      sibling_try = pthread_mutex_trylock(&em);
#ifdef WEFT_TSAN
      sibling_unlock = EPERM;  // TSan reports the wrong-owner unlock itself (as for threads)
#else
      sibling_unlock = pthread_mutex_unlock(&em);
#endif
      checked = true;
      sibling_lock_after = pthread_mutex_lock(&em);  // parks until a unlocks
      EXPECT_EQ(pthread_mutex_unlock(&em), 0);
    });
    a.join();
    b.join();
  });
  EXPECT_EQ(self_relock, EDEADLK);
  EXPECT_EQ(self_trylock, EBUSY);
  EXPECT_EQ(sibling_timed, ETIMEDOUT);
  EXPECT_EQ(sibling_try, EBUSY);
  EXPECT_EQ(sibling_unlock, EPERM);
  EXPECT_EQ(owner_unlock, 0);
  EXPECT_EQ(sibling_lock_after, 0);
  pthread_mutex_destroy(&em);
}

// Invalid arguments and deadlines as glibc reports them, on a fiber facing a held mutex.
TEST(PthreadHook, TimedCallsCheckTheirArgumentsLikeGlibc) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  std::atomic<bool> held{false}, done{false};
  int bad_nsec = -1, bad_clock = -1, past = -1, negative = -1, cond_bad_nsec = -1, cond_bad_clock = -1, cond_past = -1,
      relocked = -1;
  one_worker().run([&] {
    auto a = fiber::spawn([&] {
      pthread_mutex_lock(&m);
      held = true;
      yield_until(done);
      pthread_mutex_unlock(&m);
    });
    auto b = fiber::spawn([&] {
      yield_until(held);
      timespec bad{0, 1'000'000'000};
      bad_nsec = pthread_mutex_timedlock(&m, &bad);
      timespec soon = realtime_in(10ms);
      bad_clock = pthread_mutex_clocklock(&m, CLOCK_PROCESS_CPUTIME_ID, &soon);
      timespec before = realtime_in(-1s);
      past = pthread_mutex_timedlock(&m, &before);
      timespec neg{-1, 0};
      negative = pthread_mutex_timedlock(&m, &neg);
      done = true;
      pthread_mutex_lock(&m);
      cond_bad_nsec = pthread_cond_timedwait(&c, &m, &bad);
      cond_bad_clock = pthread_cond_clockwait(&c, &m, CLOCK_PROCESS_CPUTIME_ID, &soon);
      cond_past = pthread_cond_timedwait(&c, &m, &before);
      relocked = pthread_mutex_trylock(&m);  // still (again) ours: EBUSY
      pthread_mutex_unlock(&m);
    });
    a.join();
    b.join();
  });
  EXPECT_EQ(bad_nsec, EINVAL);
  EXPECT_EQ(bad_clock, EINVAL);
  EXPECT_EQ(past, ETIMEDOUT);
  EXPECT_EQ(negative, ETIMEDOUT);
  EXPECT_EQ(cond_bad_nsec, EINVAL);
  EXPECT_EQ(cond_bad_clock, EINVAL);
  EXPECT_EQ(cond_past, ETIMEDOUT);
  EXPECT_EQ(relocked, EBUSY);
}

// Off a fiber everything is glibc's: the same checks on the main thread and plain threads.
TEST(PthreadHookOffFiber, MutexesAndConditionVariablesBehaveLikeGlibc) {
  std::recursive_mutex rm;
  rm.lock();
  EXPECT_TRUE(rm.try_lock());  // same thread re-enters
  rm.unlock();
  rm.unlock();

  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_t em;
  pthread_mutex_init(&em, &attr);
  pthread_mutexattr_destroy(&attr);
  EXPECT_EQ(pthread_mutex_lock(&em), 0);
  EXPECT_EQ(pthread_mutex_lock(&em), EDEADLK);
#ifndef WEFT_TSAN  // TSan reports the wrong-thread unlock itself
  std::thread([&] { EXPECT_EQ(pthread_mutex_unlock(&em), EPERM); }).join();
#endif
  EXPECT_EQ(pthread_mutex_unlock(&em), 0);
  pthread_mutex_destroy(&em);

  std::timed_mutex tm;
  tm.lock();
  std::thread([&] {
    auto t0 = steady::now();
    EXPECT_FALSE(tm.try_lock_for(20ms));
    EXPECT_GE(steady::now() - t0, 20ms);
    timespec bad{0, -1};
    EXPECT_EQ(pthread_mutex_timedlock(tm.native_handle(), &bad), EINVAL);
  }).join();
  tm.unlock();

  std::mutex m;
  std::condition_variable cv;
  {
    std::unique_lock l(m);
    auto t0 = steady::now();
    EXPECT_EQ(cv.wait_for(l, 20ms), std::cv_status::timeout);
    EXPECT_GE(steady::now() - t0, 20ms);
  }
  int turn = 0, count = 0;
  auto player = [&](int me) {
    for (int i = 0; i < 500; ++i) {
      std::unique_lock l(m);
      cv.wait(l, [&] { return turn == me; });
      ++count;
      turn = 1 - me;
      cv.notify_all();
    }
  };
  std::thread p0(player, 0), p1(player, 1);
  p0.join();
  p1.join();
  EXPECT_EQ(count, 1000);
}

// --- The detector (WEFT_HOOK_LOCK_CHECK=1, read at load): run in a child process. ---

// The scenario the child runs (disabled, so only the parent's explicit filter runs it).
TEST(PthreadHookLockCheckChild, DISABLED_Scenario) {
  std::mutex m, leaked, outer, inner, slept, read_lock;
  std::condition_variable cv;
  std::atomic<bool> held{false};
  fiber::runtime rt({.workers = 1});
  rt.run([&] {
    auto holder = fiber::spawn({.name = "holder"}, [&] {
      std::lock_guard g(m);
      held = true;
      for (int i = 0; i < 200; ++i) fiber::this_fiber::yield();  // yields while holding m
    });
    auto sleeper = fiber::spawn({.name = "sleeper"}, [&] {
      std::lock_guard g(slept);
      usleep(10'000);  // parks in a hooked sleep while holding `slept` (nobody else wants it)
    });
    auto reader = fiber::spawn({.name = "reader"}, [&] {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return;
      std::thread writer([w = sv[1]] {
        std::this_thread::sleep_for(10ms);
        (void)!write(w, "x", 1);
      });
      {
        std::lock_guard g(read_lock);
        char c;
        (void)!read(sv[0], &c, 1);  // parks in a hooked read while holding `read_lock`
      }
      writer.join();
      close(sv[0]);
      close(sv[1]);
    });
    auto waiter = fiber::spawn({.name = "waiter"}, [&] {
      yield_until(held);
      std::lock_guard g(m);
    });
    auto leaker = fiber::spawn({.name = "leaker"}, [&] { leaked.lock(); });
    auto nested = fiber::spawn({.name = "nested"}, [&] {
      std::lock_guard g(outer);
      std::unique_lock l(inner);
      cv.wait_for(l, 5ms);
    });
    holder.join();
    sleeper.join();
    reader.join();
    waiter.join();
    leaker.join();
    nested.join();
  });
  std::_Exit(0);  // `leaked` is still locked: skip destructors
}

TEST(PthreadHookLockCheck, NamesFibersThatBlockWhileHoldingAMutex) {
  char out_path[] = "/tmp/weft_lock_check_XXXXXX";
  int fd = mkstemp(out_path);
  ASSERT_GE(fd, 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd, 2);
  posix_spawn_file_actions_adddup2(&fa, fd, 1);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "WEFT_HOOK_LOCK_CHECK=", 21) != 0) env_store.emplace_back(*e);
  env_store.emplace_back("WEFT_HOOK_LOCK_CHECK=1");
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe", filter = "--gtest_filter=PthreadHookLockCheckChild.*",
              disabled = "--gtest_also_run_disabled_tests";
  char* argv[] = {exe.data(), filter.data(), disabled.data(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv, envp.data()), 0);
  posix_spawn_file_actions_destroy(&fa);
  close(fd);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  std::ifstream in(out_path);
  std::stringstream ss;
  ss << in.rdbuf();
  unlink(out_path);
  const std::string out = ss.str();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_NE(out.find("weft: fiber 'holder' (id "), std::string::npos) << out;
  EXPECT_NE(out.find("blocks (parked or yielded) while holding a pthread mutex that fiber 'waiter'"), std::string::npos)
      << out;
  EXPECT_NE(out.find("weft: fiber 'sleeper' (id "), std::string::npos) << out;
  EXPECT_NE(out.find("blocks in a sleep while holding a pthread mutex"), std::string::npos) << out;
  EXPECT_NE(out.find("weft: fiber 'reader' (id "), std::string::npos) << out;
  EXPECT_NE(out.find("blocks in a blocking read while holding a pthread mutex"), std::string::npos) << out;
  EXPECT_NE(out.find("fiber 'leaker' (id "), std::string::npos) << out;
  EXPECT_NE(out.find("finishes while holding a pthread mutex"), std::string::npos) << out;
#ifndef WEFT_TSAN  // condition-variable waits are glibc's there
  EXPECT_NE(out.find("fiber 'nested' (id "), std::string::npos) << out;
  EXPECT_NE(out.find("blocks in pthread_cond_clockwait while holding a pthread mutex"), std::string::npos) << out;
#endif
  // Once per fiber.
  std::size_t holder_lines = 0;
  for (std::size_t p = out.find("fiber 'holder'"); p != std::string::npos; p = out.find("fiber 'holder'", p + 1))
    ++holder_lines;
  EXPECT_EQ(holder_lines, 1u) << out;
  EXPECT_EQ(out.find("weft: fiber 'waiter'"), std::string::npos) << out;  // it held nothing
}
