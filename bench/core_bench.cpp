// Core runtime benchmarks, each beside raw Boost.Context and Boost.Fiber in the same binary so
// that ratios come from one run (absolute numbers drift from day to day on shared VMs):
//   yield ping-pong on one worker, spawn+join (1 worker and all workers), skynet 1M, cross-worker
//   wake-up latency. Memory per parked fiber is measured by tests/scale_million_test.cpp and by
//   the headline demo (bench/demo.cpp), which need a fresh process per point.
// Run: ./build/bench/core_bench --benchmark_min_time=0.5
#include <fiber/fiber.hpp>
#include <fiber/detail/park.hpp>

#include "skynet.hpp"

#include <benchmark/benchmark.h>
#include <boost/context/fiber.hpp>
#include <boost/fiber/all.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <numeric>
#include <utility>
#include <vector>

namespace {

// ---- yield ping-pong: two fibers yielding to each other on one worker; reported per switch.
void BM_weft_yield_pingpong(benchmark::State& state) {
  fiber::runtime rt({.workers = 1});
  for (auto _ : state) {
    constexpr long n = 1'000'000;
    rt.run([] {
      auto other = fiber::spawn([] {
        for (long i = 0; i < n; ++i) fiber::this_fiber::yield();
      });
      for (long i = 0; i < n; ++i) fiber::this_fiber::yield();
      other.join();
    });
    state.SetItemsProcessed(state.items_processed() + 2 * n);
  }
}

void BM_boost_context_resume(benchmark::State& state) {
  namespace ctx = boost::context;
  for (auto _ : state) {
    constexpr long n = 1'000'000;
    ctx::fiber f{[](ctx::fiber&& main) {
      for (long i = 0; i < n; ++i) main = std::move(main).resume();
      return std::move(main);
    }};
    for (long i = 0; i <= n; ++i) f = std::move(f).resume();
    state.SetItemsProcessed(state.items_processed() + 2 * n);
  }
}

void BM_boost_fiber_yield_pingpong(benchmark::State& state) {
  for (auto _ : state) {
    constexpr long n = 1'000'000;
    boost::fibers::fiber other([] {
      for (long i = 0; i < n; ++i) boost::this_fiber::yield();
    });
    for (long i = 0; i < n; ++i) boost::this_fiber::yield();
    other.join();
    state.SetItemsProcessed(state.items_processed() + 2 * n);
  }
}

// ---- spawn + join, one at a time (stacks come back warm from the worker's cache).
void BM_weft_spawn_join(benchmark::State& state) {
  fiber::runtime rt({.workers = static_cast<unsigned>(state.range(0))});
  for (auto _ : state) {
    constexpr long n = 200'000;
    rt.run([] {
      for (long i = 0; i < n; ++i) fiber::spawn([] {}).join();
    });
    state.SetItemsProcessed(state.items_processed() + n);
  }
}

// Many spawners at once: the rate that more workers should raise.
void BM_weft_spawn_join_parallel(benchmark::State& state) {
  const unsigned workers = static_cast<unsigned>(state.range(0));
  fiber::runtime rt({.workers = workers});
  for (auto _ : state) {
    constexpr long per = 100'000;
    constexpr int spawners = 8;
    rt.run([] {
      std::vector<fiber::join_handle<void>> hs;
      for (int s = 0; s < spawners; ++s)
        hs.push_back(fiber::spawn([] {
          for (long i = 0; i < per; ++i) fiber::spawn([] {}).join();
        }));
      for (auto& h : hs) h.join();
    });
    state.SetItemsProcessed(state.items_processed() + per * spawners);
  }
}

void BM_boost_fiber_spawn_join(benchmark::State& state) {
  boost::fibers::fixedsize_stack stacks(64 * 1024);
  for (auto _ : state) {
    constexpr long n = 200'000;
    for (long i = 0; i < n; ++i) boost::fibers::fiber(std::allocator_arg, stacks, [] {}).join();
    state.SetItemsProcessed(state.items_processed() + n);
  }
}

// ---- skynet: a 10-ary tree of 1M leaf fibers returning their numbers through join (skynet.hpp).
using weft_bench::skynet;

void BM_weft_skynet_1M(benchmark::State& state) {
  fiber::runtime rt({.workers = static_cast<unsigned>(state.range(0))});
  for (auto _ : state) {
    long r = rt.run([] { return skynet(0, 1'000'000); });
    if (r != 499'999'500'000L) state.SkipWithError("wrong skynet sum");
  }
}

// ---- cross-worker wake-up: a fiber on worker A unparks one parked on worker B, and back.
void BM_weft_cross_worker_wakeup(benchmark::State& state) {
  fiber::runtime rt({.workers = 2});
  for (auto _ : state) {
    constexpr long n = 100'000;
    rt.run([] {
      struct mailbox {
        std::mutex mu;  // held for a few instructions, never across a park
        long value = 0;
        fiber::detail::park_token waiter;
      } box[2];
      auto wait_for = [](mailbox& m, long want) {
        for (;;) {
          std::unique_lock lk(m.mu);
          if (m.value == want) return;
          m.waiter = fiber::detail::prepare_park();
          auto t = m.waiter;
          lk.unlock();
          fiber::detail::park(t);
        }
      };
      auto post = [](mailbox& m, long v) {
        std::unique_lock lk(m.mu);
        m.value = v;
        auto t = std::exchange(m.waiter, {});
        lk.unlock();
        if (t) fiber::detail::unpark(t);
      };
      // Two fibers spawned back to back land on different workers once the idle one steals.
      auto a = fiber::spawn([&] {
        for (long i = 1; i <= n; ++i) {
          post(box[1], i);
          wait_for(box[0], i);
        }
      });
      auto b = fiber::spawn([&] {
        for (long i = 1; i <= n; ++i) {
          wait_for(box[1], i);
          post(box[0], i);
        }
      });
      a.join();
      b.join();
    });
    state.SetItemsProcessed(state.items_processed() + 2 * n);
  }
}

}  // namespace

BENCHMARK(BM_weft_yield_pingpong)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_boost_context_resume)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_boost_fiber_yield_pingpong)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_weft_spawn_join)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_weft_spawn_join_parallel)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_boost_fiber_spawn_join)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_weft_skynet_1M)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);
BENCHMARK(BM_weft_cross_worker_wakeup)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
