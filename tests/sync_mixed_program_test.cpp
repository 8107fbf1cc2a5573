// sync_mixed_program_test.cpp — liveness of thread-style code on fiber:: names.
//
// 1. The mixed program of bench/mixed_program.hpp (latch, shared_mutex + std::scoped_lock over two
//    fiber::mutex, sleep/yield, barrier, counting_semaphore<4>, bounded queue on mutex + two
//    condition_variables, promise/future to main) on fibers at 1k, 10k and 30k workers (capped by
//    WEFT_SCALE_FIBERS for sanitizer runs), and its reduced form (transfers + semaphore) at 8k:
//    invariants asserted, time bounded by a generous watchdog (never a speed assertion).
// 2. Polling loops that make progress on threads must make progress on fibers, even on one
//    worker: `while (!sem.try_acquire()) {}`, try_lock, try_lock_shared, latch::try_wait,
//    future::wait_for(0s) while another fiber releases later.
// 3. std::lock / std::scoped_lock over 2, 3 and 4 fiber::mutex (and a heterogeneous set, which
//    takes libstdc++'s other algorithm) from thousands of fibers on two workers plus plain OS
//    threads at the same time: mutual exclusion and a count invariant.
//
// Every test runs its body on a separate thread under a watchdog: if the body does not finish in
// time, the watchdog prints what hung (and the program's progress counters) and ends the process
// with _Exit(1), so ctest reports a failure instead of waiting for its own timeout.
#include "../bench/mixed_program.hpp"
#include "test_scale.hpp"

#include <fiber/fiber.hpp>
#include <sync/sync.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Runs `body` on its own thread; if it has not returned after `limit`, reports `what` (and
// `status()`) on stderr and ends the process: a hung fiber runtime cannot be unwound.
void with_watchdog(const std::string& what, std::chrono::seconds limit, const std::function<void()>& body,
                   const std::function<std::string()>& status = {}) {
  struct shared {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::string error;
  };
  auto s = std::make_shared<shared>();
  const auto t0 = std::chrono::steady_clock::now();
  std::thread t([s, &body] {
    std::string error;
    try {
      body();
    } catch (const std::exception& e) {
      error = std::string("exception: ") + e.what();
    } catch (...) {
      error = "unknown exception";
    }
    std::lock_guard lk(s->m);
    s->done = true;
    s->error = error;
    s->cv.notify_all();
  });
  std::unique_lock lk(s->m);
  if (!s->cv.wait_for(lk, limit, [&] { return s->done; })) {
    std::fprintf(stderr,
                 "\nWATCHDOG: %s did not finish within %lld s (hang or livelock on fibers; threads complete it)%s%s\n"
                 "WATCHDOG: ending the process with exit status 1\n",
                 what.c_str(), static_cast<long long>(limit.count()), status ? "\nWATCHDOG: progress: " : "",
                 status ? status().c_str() : "");
    std::fflush(stderr);
    std::fflush(stdout);
    std::_Exit(1);
  }
  const std::string error = s->error;
  lk.unlock();
  t.join();
  if (!error.empty()) ADD_FAILURE() << what << ": " << error;
  std::printf("[ info ] %s: %.2f s\n", what.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

// Fiber counts capped by WEFT_SCALE_FIBERS (sanitizer runs: TSan tracks every fiber as a thread).
long capped(long n) {
  if (const char* env = std::getenv("WEFT_SCALE_FIBERS")) return std::max(1L, std::min(n, std::atol(env)));
  return n;
}

// ---------------------------------------------------------------- 1. the mixed program

// The collapse is intermittent (a convoy has to form first): each case runs `repeats` times, each
// run under its own watchdog, with a different seed.
void run_mixed_on_fibers(long workers, bool reduced, int repeats) {
  for (int rep = 0; rep < repeats; ++rep) {
    weft_mixed::mixed_config cfg;
    cfg.workers = capped(workers);
    cfg.reduced = reduced;
    cfg.seed = static_cast<std::uint64_t>(rep) + 1;
    if (reduced) cfg.phases = 1;  // the reduced program: one semaphore pass per worker
    weft_mixed::mixed_progress progress;
    const std::string what = std::string(reduced ? "reduced" : "mixed") + " program on fibers, " +
                             std::to_string(cfg.workers) + " workers, run " + std::to_string(rep + 1) + "/" +
                             std::to_string(repeats);
    with_watchdog(
        what, 60s,
        [&] {
          fiber::runtime rt({.workers = 2});
          const weft_mixed::mixed_result r = weft_mixed::run_mixed_program<weft_mixed::fiber_names>(cfg, &progress);
          ASSERT_TRUE(r.started) << r.error;
          EXPECT_TRUE(r.ok) << r.error;
          EXPECT_EQ(r.money_after, r.money_before);
          EXPECT_EQ(r.transfers_moved + r.transfers_skipped, cfg.workers * cfg.transfers);
          if (!reduced) {
            EXPECT_EQ(r.items_consumed, cfg.workers * cfg.phases);
            EXPECT_EQ(r.items_missing, 0);
            EXPECT_EQ(r.items_duplicated, 0);
            EXPECT_EQ(r.futures_wrong, 0);
            EXPECT_EQ(r.barrier_audits, cfg.phases);
            EXPECT_EQ(r.barrier_audit_failures, 0);
          }
        },
        [&] { return progress.describe(cfg); });
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(MixedProgram, Fibers1k) {
  run_mixed_on_fibers(1'000, false, 3);
}
TEST(MixedProgram, Fibers10k) {
  run_mixed_on_fibers(10'000, false, 3);
}
TEST(MixedProgram, Fibers30k) {
  run_mixed_on_fibers(30'000, false, 1);
}
TEST(MixedProgram, ReducedFibers8k) {
  run_mixed_on_fibers(8'000, true, 5);
}

// The same source on std:: names, as a reference that the program itself is sound.
TEST(MixedProgram, StdThreads1k) {
  weft_mixed::mixed_config cfg;
  cfg.workers = 1'000;
  with_watchdog("mixed program on std::thread, 1000 workers", 60s, [&] {
    const weft_mixed::mixed_result r = weft_mixed::run_mixed_program<weft_mixed::std_names>(cfg);
    if (!r.started) GTEST_SKIP() << r.error;
    EXPECT_TRUE(r.ok) << r.error;
  });
}

// ---------------------------------------------------------------- 2. polling loops

// `poll` spins on a try-operation without yielding, as thread code may; `release` (another fiber
// on the same single worker) makes it succeed 10 ms later.
constexpr auto later = 10ms;

TEST(TryLoopProgress, SemaphoreTryAcquireOnOneWorker) {
  with_watchdog("while (!sem.try_acquire()) {} on one worker", 10s, [] {
    fiber::runtime rt({.workers = 1});
    fiber::counting_semaphore<1> sem(0);
    rt.run([&] {
      auto releaser = rt.spawn([&] {
        fiber::this_fiber::sleep_for(later);
        sem.release();
      });
      while (!sem.try_acquire()) {
      }
      releaser.join();
    });
  });
}

TEST(TryLoopProgress, MutexTryLockOnOneWorker) {
  with_watchdog("while (!m.try_lock()) {} on one worker", 10s, [] {
    fiber::runtime rt({.workers = 1});
    fiber::mutex m;
    fiber::latch held(1);
    rt.run([&] {
      auto holder = rt.spawn([&] {
        m.lock();
        held.count_down();
        fiber::this_fiber::sleep_for(later);
        m.unlock();
      });
      held.wait();
      while (!m.try_lock()) {
      }
      m.unlock();
      holder.join();
    });
  });
}

TEST(TryLoopProgress, SharedMutexTryLockSharedOnOneWorker) {
  with_watchdog("while (!sm.try_lock_shared()) {} on one worker", 10s, [] {
    fiber::runtime rt({.workers = 1});
    fiber::shared_mutex sm;
    fiber::latch held(1);
    rt.run([&] {
      auto writer = rt.spawn([&] {
        sm.lock();
        held.count_down();
        fiber::this_fiber::sleep_for(later);
        sm.unlock();
      });
      held.wait();
      while (!sm.try_lock_shared()) {
      }
      sm.unlock_shared();
      writer.join();
    });
  });
}

TEST(TryLoopProgress, LatchTryWaitOnOneWorker) {
  with_watchdog("while (!l.try_wait()) {} on one worker", 10s, [] {
    fiber::runtime rt({.workers = 1});
    fiber::latch l(1);
    rt.run([&] {
      auto counter = rt.spawn([&] {
        fiber::this_fiber::sleep_for(later);
        l.count_down();
      });
      while (!l.try_wait()) {
      }
      counter.join();
    });
  });
}

TEST(TryLoopProgress, FutureWaitForZeroOnOneWorker) {
  with_watchdog("while (f.wait_for(0s) != ready) {} on one worker", 10s, [] {
    fiber::runtime rt({.workers = 1});
    fiber::promise<int> p;
    fiber::future<int> f = p.get_future();
    rt.run([&] {
      auto setter = rt.spawn([&] {
        fiber::this_fiber::sleep_for(later);
        p.set_value(7);
      });
      while (f.wait_for(0s) != fiber::future_status::ready) {
      }
      EXPECT_EQ(f.get(), 7);
      setter.join();
    });
  });
}

// ---------------------------------------------------------------- 3. std::lock over fiber mutexes

constexpr int lock_count = 8;  // few locks, many lockers: every lock has waiters

struct lock_table {
  std::array<fiber::mutex, lock_count> m;
  std::array<fiber::timed_mutex, lock_count> tm;  // for the heterogeneous case
  std::array<long, 2 * lock_count> counter{};     // counter[i] guarded by m[i], counter[lock_count + i] by tm[i]
  std::array<std::atomic<int>, 2 * lock_count> inside{};
  std::atomic<long> acquisitions{0}, entries{0}, violations{0};

  void enter(int i) {
    if (inside[static_cast<std::size_t>(i)].fetch_add(1) != 0) violations.fetch_add(1);
    entries.fetch_add(1);
    ++counter[static_cast<std::size_t>(i)];
  }
  void leave(int i) { inside[static_cast<std::size_t>(i)].fetch_sub(1); }
};

// K distinct lock indices from a small LCG.
template <int K>
std::array<int, K> pick(std::uint32_t& seed) {
  std::array<int, K> idx{};
  for (int k = 0; k < K;) {
    seed = seed * 1664525u + 1013904223u;
    const int v = static_cast<int>((seed >> 16) % lock_count);
    if (std::find(idx.begin(), idx.begin() + k, v) == idx.begin() + k) idx[static_cast<std::size_t>(k++)] = v;
  }
  return idx;
}

template <int K>
void locked_step(lock_table& t, std::uint32_t& seed, int round, bool on_fiber, bool use_std_lock) {
  const auto idx = pick<K>(seed);
  auto body = [&] {
    for (int i : idx) t.enter(i);
    if (round % 4 == 0) {  // hold the locks across a switch now and then: queues form
      if (on_fiber)
        fiber::this_fiber::yield();
      else
        std::this_thread::yield();
    }
    for (int i : idx) t.leave(i);
    t.acquisitions.fetch_add(1);
  };
  auto& m = t.m;
  if (use_std_lock) {
    if constexpr (K == 2) {
      std::lock(m[idx[0]], m[idx[1]]);
      body();
      m[idx[0]].unlock();
      m[idx[1]].unlock();
    } else if constexpr (K == 3) {
      std::lock(m[idx[0]], m[idx[1]], m[idx[2]]);
      body();
      for (int i : idx) m[static_cast<std::size_t>(i)].unlock();
    } else {
      std::lock(m[idx[0]], m[idx[1]], m[idx[2]], m[idx[3]]);
      body();
      for (int i : idx) m[static_cast<std::size_t>(i)].unlock();
    }
  } else if constexpr (K == 2) {
    std::scoped_lock lk(m[idx[0]], m[idx[1]]);
    body();
  } else if constexpr (K == 3) {
    std::scoped_lock lk(m[idx[0]], m[idx[1]], m[idx[2]]);
    body();
  } else {
    std::scoped_lock lk(m[idx[0]], m[idx[1]], m[idx[2]], m[idx[3]]);
    body();
  }
}

// fiber::mutex, fiber::timed_mutex, fiber::mutex: different types, so libstdc++ takes its
// recursive lock/try_lock algorithm (with sched_yield between rounds) instead of the same-type loop.
void heterogeneous_step(lock_table& t, std::uint32_t& seed, int round, bool on_fiber) {
  const auto idx = pick<3>(seed);  // m[idx[0]], tm[idx[1]], m[idx[2]]
  std::scoped_lock lk(t.m[static_cast<std::size_t>(idx[0])], t.tm[static_cast<std::size_t>(idx[1])],
                      t.m[static_cast<std::size_t>(idx[2])]);
  t.enter(idx[0]);
  t.enter(lock_count + idx[1]);
  t.enter(idx[2]);
  if (round % 4 == 0) {
    if (on_fiber)
      fiber::this_fiber::yield();
    else
      std::this_thread::yield();
  }
  t.leave(idx[2]);
  t.leave(lock_count + idx[1]);
  t.leave(idx[0]);
  t.acquisitions.fetch_add(1);
}

using step_fn = void (*)(lock_table&, std::uint32_t&, int, bool);

void run_lock_storm_once(const std::string& what, step_fn step);

// Twice: a convoy does not form on every run.
void run_lock_storm(const std::string& what, step_fn step) {
  for (int rep = 0; rep < 2 && !::testing::Test::HasFailure(); ++rep)
    run_lock_storm_once(what + " (run " + std::to_string(rep + 1) + "/2)", step);
}

void run_lock_storm_once(const std::string& what, step_fn step) {
  const long fibers = weft_test::scaled(4'000);
  const int rounds = 25;
  const int os_threads = 3;
  const int thread_rounds = static_cast<int>(weft_test::scaled(2'000));
  lock_table t;
  std::atomic<long> fibers_done{0}, threads_done{0};
  with_watchdog(
      what + " from " + std::to_string(fibers) + " fibers on 2 workers + " + std::to_string(os_threads) + " OS threads",
      60s,
      [&] {
        fiber::runtime rt({.workers = 2});
        std::vector<std::thread> threads;
        for (int k = 0; k < os_threads; ++k)
          threads.emplace_back([&, k] {
            std::uint32_t seed = 0xabcdu + static_cast<std::uint32_t>(k);
            for (int r = 0; r < thread_rounds; ++r) step(t, seed, r, false);
            threads_done.fetch_add(1);
          });
        std::vector<fiber::join_handle<void>> hs;
        hs.reserve(static_cast<std::size_t>(fibers));
        for (long i = 0; i < fibers; ++i)
          hs.push_back(rt.spawn([&, i] {
            std::uint32_t seed = static_cast<std::uint32_t>(i) * 2654435761u + 1;
            for (int r = 0; r < rounds; ++r) {
              step(t, seed, r, true);
              fiber::this_fiber::yield();
            }
            fibers_done.fetch_add(1);
          }));
        for (auto& h : hs) h.join();
        for (auto& th : threads) th.join();
        const long expected = fibers * rounds + static_cast<long>(os_threads) * thread_rounds;
        EXPECT_EQ(t.violations.load(), 0) << "two owners inside one lock";
        EXPECT_EQ(t.acquisitions.load(), expected);
        long sum = 0;
        for (long c : t.counter) sum += c;
        EXPECT_EQ(sum, t.entries.load()) << "a guarded counter lost an update";
      },
      [&] {
        return "fibers done " + std::to_string(fibers_done.load()) + "/" + std::to_string(fibers) +
               ", OS threads done " + std::to_string(threads_done.load()) + "/" + std::to_string(os_threads) +
               ", acquisitions " + std::to_string(t.acquisitions.load());
      });
}

TEST(StdLockOnFiberMutex, ScopedLockTwo) {
  run_lock_storm("std::scoped_lock over 2 fiber::mutex",
                 [](lock_table& t, std::uint32_t& s, int r, bool f) { locked_step<2>(t, s, r, f, false); });
}
TEST(StdLockOnFiberMutex, ScopedLockThree) {
  run_lock_storm("std::scoped_lock over 3 fiber::mutex",
                 [](lock_table& t, std::uint32_t& s, int r, bool f) { locked_step<3>(t, s, r, f, false); });
}
TEST(StdLockOnFiberMutex, ScopedLockFour) {
  run_lock_storm("std::scoped_lock over 4 fiber::mutex",
                 [](lock_table& t, std::uint32_t& s, int r, bool f) { locked_step<4>(t, s, r, f, false); });
}
TEST(StdLockOnFiberMutex, StdLockTwoThreeFour) {
  run_lock_storm("std::lock over 2, 3 and 4 fiber::mutex", [](lock_table& t, std::uint32_t& s, int r, bool f) {
    switch (r % 3) {
      case 0:
        locked_step<2>(t, s, r, f, true);
        break;
      case 1:
        locked_step<3>(t, s, r, f, true);
        break;
      default:
        locked_step<4>(t, s, r, f, true);
        break;
    }
  });
}
TEST(StdLockOnFiberMutex, ScopedLockHeterogeneous) {
  run_lock_storm("std::scoped_lock over fiber::mutex + fiber::timed_mutex + fiber::mutex", heterogeneous_step);
}

}  // namespace
