// Bounded stress (about a second each): many fibers on every worker plus plain OS threads
// hammering each sync/ type at once, checking invariants (exact totals, exclusion, no lost or
// duplicated channel items). Meant to run under TSan too.
#include <sync/sync.hpp>

#include <fiber/fiber.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Runs `body(seed, stop)` on `fibers` fibers and `threads` OS threads until `duration` passes.
template <class Body>
void hammer(int fibers, int threads, std::chrono::milliseconds duration, Body body) {
  std::atomic<bool> stop{false};
  std::vector<fiber::join_handle<void>> hs;
  for (int i = 0; i < fibers; ++i) hs.push_back(fiber::spawn([&, i] { body(unsigned(i + 1), stop); }));
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i) ts.emplace_back([&, i] { body(unsigned(10000 + i), stop); });
  std::this_thread::sleep_for(duration);
  stop = true;
  for (auto& h : hs) h.join();
  for (auto& t : ts) t.join();
}

}  // namespace

TEST(Stress, MutexesAndSharedMutex) {
  fiber::mutex m;
  fiber::recursive_timed_mutex rm;
  fiber::shared_timed_mutex sm;
  long plain = 0, recursive = 0, guarded = 0;
  std::atomic<long> expect_plain{0}, expect_recursive{0}, expect_guarded{0};
  std::atomic<int> readers{0}, writers{0};
  std::atomic<bool> violation{false};
  hammer(64, 2, 800ms, [&](unsigned seed, std::atomic<bool>& stop) {
    std::minstd_rand rng(seed);
    while (!stop) {
      switch (rng() % 4) {
        case 0: {
          std::lock_guard g(m);
          ++plain;
          ++expect_plain;
          break;
        }
        case 1:
          if (rm.try_lock_for(std::chrono::microseconds(rng() % 200))) {
            std::lock_guard again(rm);  // depth 2
            ++recursive;
            ++expect_recursive;
            rm.unlock();
          }
          break;
        case 2: {
          std::shared_lock r(sm);
          ++readers;
          if (writers.load() != 0) violation = true;
          --readers;
          break;
        }
        default: {
          std::unique_lock w(sm);
          if (++writers != 1 || readers.load() != 0) violation = true;
          ++guarded;
          ++expect_guarded;
          --writers;
        }
      }
      if (rng() % 8 == 0) fiber::this_fiber::yield();
    }
  });
  EXPECT_EQ(plain, expect_plain.load());
  EXPECT_EQ(recursive, expect_recursive.load());
  EXPECT_EQ(guarded, expect_guarded.load());
  EXPECT_FALSE(violation.load());
}

TEST(Stress, SemaphoreAndConditionVariable) {
  fiber::counting_semaphore<> sem(4);
  std::atomic<int> inside{0};
  std::atomic<bool> over{false};
  fiber::mutex m;
  fiber::condition_variable_any cv;
  long tokens = 0;  // produced minus consumed, under m
  std::atomic<long> produced{0}, consumed{0};
  hammer(64, 2, 800ms, [&](unsigned seed, std::atomic<bool>& stop) {
    std::minstd_rand rng(seed);
    while (!stop) {
      if (rng() % 2) {
        if (sem.try_acquire_for(std::chrono::microseconds(rng() % 300))) {
          if (++inside > 4) over = true;
          fiber::this_fiber::yield();
          --inside;
          sem.release();
        }
      } else if (rng() % 2) {
        std::lock_guard g(m);
        ++tokens;
        ++produced;
        cv.notify_one();
      } else {
        std::unique_lock lk(m);
        if (cv.wait_for(lk, std::chrono::microseconds(rng() % 500), [&] { return tokens > 0; })) {
          --tokens;
          ++consumed;
        }
      }
    }
  });
  EXPECT_FALSE(over.load());
  EXPECT_EQ(produced.load() - consumed.load(), tokens);
  EXPECT_GE(tokens, 0);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(sem.try_acquire());
  EXPECT_FALSE(sem.try_acquire());
}

TEST(Stress, ChannelsAndSelectNoLossNoDuplicates) {
  fiber::channel<long> a(0), b(8);
  std::atomic<long> sent{0}, received{0}, sent_count{0}, received_count{0};
  std::atomic<long> next{1};
  hammer(48, 2, 800ms, [&](unsigned seed, std::atomic<bool>& stop) {
    std::minstd_rand rng(seed);
    while (!stop) {
      const long v = next.fetch_add(1);
      switch (rng() % 4) {
        case 0:
          if (a.send_for(long(v), std::chrono::microseconds(rng() % 200)) == fiber::channel_status::ok) {
            sent += v;
            ++sent_count;
          }
          break;
        case 1:
          if (b.try_send(long(v))) {
            sent += v;
            ++sent_count;
          }
          break;
        case 2:
          fiber::select(fiber::on_recv(a,
                                       [&](std::optional<long> x) {
                                         if (x) {
                                           received += *x;
                                           ++received_count;
                                         }
                                       }),
                        fiber::on_recv(b,
                                       [&](std::optional<long> x) {
                                         if (x) {
                                           received += *x;
                                           ++received_count;
                                         }
                                       }),
                        fiber::on_timeout(std::chrono::microseconds(rng() % 300)));
          break;
        default:
          fiber::select(fiber::on_send(a, v,
                                       [&] {
                                         sent += v;
                                         ++sent_count;
                                       }),
                        fiber::on_send(b, v,
                                       [&] {
                                         sent += v;
                                         ++sent_count;
                                       }),
                        fiber::on_recv(b,
                                       [&](std::optional<long> x) {
                                         if (x) {
                                           received += *x;
                                           ++received_count;
                                         }
                                       }),
                        fiber::on_timeout(std::chrono::microseconds(rng() % 300)));
      }
    }
  });
  while (auto x = b.try_recv()) {  // what is still buffered
    received += *x;
    ++received_count;
  }
  EXPECT_EQ(sent_count.load(), received_count.load());
  EXPECT_EQ(sent.load(), received.load());
}

TEST(Stress, BarrierLatchWaitGroupRounds) {
  constexpr int parties = 8, rounds = 200;
  std::atomic<int> completions{0};
  fiber::barrier bar(parties, [&]() noexcept { ++completions; });
  fiber::wait_group wg;
  wg.add(parties);
  std::vector<fiber::join_handle<void>> hs;
  for (int i = 0; i < parties - 2; ++i)
    hs.push_back(fiber::spawn([&] {
      for (int r = 0; r < rounds; ++r) bar.arrive_and_wait();
      wg.done();
    }));
  std::vector<std::thread> ts;
  for (int i = 0; i < 2; ++i)
    ts.emplace_back([&] {
      for (int r = 0; r < rounds; ++r) bar.arrive_and_wait();
      wg.done();
    });
  EXPECT_TRUE(wg.wait_for(20s));
  for (auto& h : hs) h.join();
  for (auto& t : ts) t.join();
  EXPECT_EQ(completions.load(), rounds);

  for (int round = 0; round < 50; ++round) {
    fiber::latch l(20);
    std::vector<fiber::join_handle<void>> ws;
    for (int i = 0; i < 20; ++i) ws.push_back(fiber::spawn([&] { l.arrive_and_wait(); }));
    for (auto& w : ws) w.join();
    EXPECT_TRUE(l.try_wait());
  }
}
