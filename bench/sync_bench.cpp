// sync_bench — weft's sync/ types against their peers in one run (ratios, not absolutes).
//
//   ./build-sync/bench/sync_bench --benchmark_min_time=0.2
//
// Every benchmark reports `ns/op` (a counter): wall time per lock acquisition, per channel
// round trip (ping-pong) or per item (buffered throughput). weft cases run on a dedicated
// `fiber::runtime` with the stated number of workers; Boost.Fiber cases run on the benchmark
// thread's own round-robin scheduler (1 thread); std cases use OS threads.
#include <fiber/fiber.hpp>
#include <sync/channel.hpp>
#include <sync/mutex.hpp>

#include <benchmark/benchmark.h>
#include <boost/fiber/all.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace {

constexpr int batch = 20000;  // operations per benchmark iteration

// Google Benchmark prints an inverted rate in seconds; this counter is plain nanoseconds per op,
// computed from the benchmark's own wall-clock measurement (all cases use UseRealTime()).
struct op_timer {
  benchmark::State& state;
  double ops_per_iteration;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  ~op_timer() {
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    const double ops = ops_per_iteration * static_cast<double>(state.iterations());
    state.counters["ns/op"] = ops > 0 ? ns / ops : 0;
  }
};

// ---------------------------------------------------------------- uncontended lock/unlock
void weft_mutex_uncontended(benchmark::State& state) {
  fiber::mutex m;
  op_timer timer{state, batch};
  for (auto _ : state)
    for (int i = 0; i < batch; ++i) {
      m.lock();
      m.unlock();
    }
}
BENCHMARK(weft_mutex_uncontended)->UseRealTime();

void std_mutex_uncontended(benchmark::State& state) {
  // glibc drops the lock prefix while a process has a single thread; every program running weft
  // has worker threads, so compare under the same condition.
  static std::jthread second_thread([](std::stop_token st) {
    while (!st.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  });
  std::mutex m;
  op_timer timer{state, batch};
  for (auto _ : state)
    for (int i = 0; i < batch; ++i) {
      m.lock();
      m.unlock();
    }
}
BENCHMARK(std_mutex_uncontended)->UseRealTime();

void boost_fiber_mutex_uncontended(benchmark::State& state) {
  boost::fibers::mutex m;
  op_timer timer{state, batch};
  for (auto _ : state)
    for (int i = 0; i < batch; ++i) {
      m.lock();
      m.unlock();
    }
}
BENCHMARK(boost_fiber_mutex_uncontended)->UseRealTime();

// ---------------------------------------------------------------- contended hand-off
// Two fibers on one worker: lock, yield while holding it (the other fiber queues), unlock.
// Every acquisition is a hand-off to a parked waiter.
void weft_mutex_handoff_1worker(benchmark::State& state) {
  fiber::runtime rt({.workers = 1});
  fiber::mutex m;
  long counter = 0;
  op_timer timer{state, batch};
  for (auto _ : state) {
    rt.run([&] {
      auto body = [&] {
        for (int i = 0; i < batch / 2; ++i) {
          m.lock();
          ++counter;
          fiber::this_fiber::yield();
          m.unlock();
        }
      };
      auto a = fiber::spawn(body);
      auto b = fiber::spawn(body);
      a.join();
      b.join();
    });
  }
  benchmark::DoNotOptimize(counter);
}
BENCHMARK(weft_mutex_handoff_1worker)->UseRealTime();

void boost_fiber_mutex_handoff(benchmark::State& state) {
  boost::fibers::mutex m;
  long counter = 0;
  op_timer timer{state, batch};
  for (auto _ : state) {
    auto body = [&] {
      for (int i = 0; i < batch / 2; ++i) {
        m.lock();
        ++counter;
        boost::this_fiber::yield();
        m.unlock();
      }
    };
    boost::fibers::fiber a(body), b(body);
    a.join();
    b.join();
  }
  benchmark::DoNotOptimize(counter);
}
BENCHMARK(boost_fiber_mutex_handoff)->UseRealTime();

// Plain contention (no yield): 2 fibers on 2 workers vs 2 OS threads with std::mutex.
void weft_mutex_contended_2workers(benchmark::State& state) {
  fiber::runtime rt({.workers = 2});
  fiber::mutex m;
  long counter = 0;
  op_timer timer{state, batch};
  for (auto _ : state) {
    auto body = [&] {
      for (int i = 0; i < batch / 2; ++i) {
        std::lock_guard g(m);
        ++counter;
      }
    };
    auto a = rt.spawn(body);
    auto b = rt.spawn(body);
    a.join();
    b.join();
  }
  benchmark::DoNotOptimize(counter);
}
BENCHMARK(weft_mutex_contended_2workers)->UseRealTime();

void std_mutex_contended_2threads(benchmark::State& state) {
  std::mutex m;
  long counter = 0;
  op_timer timer{state, batch};
  for (auto _ : state) {
    auto body = [&] {
      for (int i = 0; i < batch / 2; ++i) {
        std::lock_guard g(m);
        ++counter;
      }
    };
    std::thread a(body), b(body);
    a.join();
    b.join();
  }
  benchmark::DoNotOptimize(counter);
}
BENCHMARK(std_mutex_contended_2threads)->UseRealTime();

// std::scoped_lock over random pairs of 8 mutexes from 16 tasks: std::lock's lock / try_lock /
// back-off rounds, the pattern that convoys on a lock with strict FIFO hand-off. 16 fibers on 2
// workers vs 16 OS threads with std::mutex.
constexpr int pair_locks = 8, pair_tasks = 16;

template <class Mutex>
void lock_pairs(Mutex (&locks)[pair_locks], long (&counters)[pair_locks], unsigned task, int rounds) {
  std::uint32_t seed = task * 2654435761u + 7;
  for (int r = 0; r < rounds; ++r) {
    seed = seed * 1664525u + 1013904223u;
    const unsigned a = (seed >> 8) % pair_locks, b = (a + 1 + (seed >> 20) % (pair_locks - 1)) % pair_locks;
    std::scoped_lock g(locks[a], locks[b]);
    ++counters[a];
    ++counters[b];
  }
}

void weft_std_lock_pairs_2workers(benchmark::State& state) {
  fiber::runtime rt({.workers = 2});
  fiber::mutex locks[pair_locks];
  long counters[pair_locks] = {};
  op_timer timer{state, batch};
  for (auto _ : state) {
    std::vector<fiber::join_handle<void>> hs;
    for (unsigned t = 0; t < pair_tasks; ++t)
      hs.push_back(rt.spawn([&, t] { lock_pairs(locks, counters, t, batch / pair_tasks); }));
    for (auto& h : hs) h.join();
  }
  benchmark::DoNotOptimize(counters);
}
BENCHMARK(weft_std_lock_pairs_2workers)->UseRealTime();

void std_std_lock_pairs_threads(benchmark::State& state) {
  std::mutex locks[pair_locks];
  long counters[pair_locks] = {};
  op_timer timer{state, batch};
  for (auto _ : state) {
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < pair_tasks; ++t)
      ts.emplace_back([&, t] { lock_pairs(locks, counters, t, batch / pair_tasks); });
    for (auto& th : ts) th.join();
  }
  benchmark::DoNotOptimize(counters);
}
BENCHMARK(std_std_lock_pairs_threads)->UseRealTime();

// ---------------------------------------------------------------- channel ping-pong (unbuffered)
// ns/op = one message (a round trip is two).
void weft_channel_pingpong_1worker(benchmark::State& state) {
  fiber::runtime rt({.workers = 1});
  op_timer timer{state, batch};
  for (auto _ : state) {
    rt.run([] {
      fiber::channel<int> ping, pong;
      auto echo = fiber::spawn([&] {
        for (int i = 0; i < batch / 2; ++i) pong.send(*ping.recv());
      });
      for (int i = 0; i < batch / 2; ++i) {
        ping.send(i);
        benchmark::DoNotOptimize(pong.recv());
      }
      echo.join();
    });
  }
}
BENCHMARK(weft_channel_pingpong_1worker)->UseRealTime();

void boost_fiber_channel_pingpong(benchmark::State& state) {
  op_timer timer{state, batch};
  for (auto _ : state) {
    boost::fibers::unbuffered_channel<int> ping, pong;
    boost::fibers::fiber echo([&] {
      int v = 0;
      for (int i = 0; i < batch / 2; ++i) {
        ping.pop(v);
        pong.push(v);
      }
    });
    for (int i = 0; i < batch / 2; ++i) {
      ping.push(i);
      int v = 0;
      pong.pop(v);
      benchmark::DoNotOptimize(v);
    }
    echo.join();
  }
}
BENCHMARK(boost_fiber_channel_pingpong)->UseRealTime();

// ---------------------------------------------------------------- buffered throughput
// One producer, one consumer, capacity 1024 (Boost: 1024 slots, 1023 usable). ns/op = one item.
void weft_channel_buffered_1worker(benchmark::State& state) {
  fiber::runtime rt({.workers = 1});
  op_timer timer{state, batch};
  for (auto _ : state) {
    rt.run([] {
      fiber::channel<int> ch(1024);
      auto consumer = fiber::spawn([&] {
        long sum = 0;
        for (int v : ch) sum += v;
        return sum;
      });
      for (int i = 0; i < batch; ++i) ch.send(i);
      ch.close();
      benchmark::DoNotOptimize(consumer.join());
    });
  }
}
BENCHMARK(weft_channel_buffered_1worker)->UseRealTime();

void weft_channel_buffered_2workers(benchmark::State& state) {
  fiber::runtime rt({.workers = 2});
  op_timer timer{state, batch};
  for (auto _ : state) {
    fiber::channel<int> ch(1024);
    auto consumer = rt.spawn([&] {
      long sum = 0;
      for (int v : ch) sum += v;
      return sum;
    });
    auto producer = rt.spawn([&] {
      for (int i = 0; i < batch; ++i) ch.send(i);
      ch.close();
    });
    producer.join();
    benchmark::DoNotOptimize(consumer.join());
  }
}
BENCHMARK(weft_channel_buffered_2workers)->UseRealTime();

void boost_fiber_channel_buffered(benchmark::State& state) {
  op_timer timer{state, batch};
  for (auto _ : state) {
    boost::fibers::buffered_channel<int> ch(1024);
    boost::fibers::fiber consumer([&] {
      long sum = 0;
      int v = 0;
      while (ch.pop(v) == boost::fibers::channel_op_status::success) sum += v;
      benchmark::DoNotOptimize(sum);
    });
    for (int i = 0; i < batch; ++i) ch.push(i);
    ch.close();
    consumer.join();
  }
}
BENCHMARK(boost_fiber_channel_buffered)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
