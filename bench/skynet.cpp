// skynet.cpp — the skynet benchmark in a fresh process, through fiber::run on the default runtime,
// so that WEFT_WORKERS decides the worker count (bench/skynet.sh runs 1 and 2 interleaved). A
// 10-ary tree of 1,000,000 leaf fibers (skynet.hpp), each returning its number to its parent through join.
//
//   WEFT_WORKERS=2 ./build/bench/skynet        # prints: workers=2 sum=499999500000 ms=87.3
//
// Exits 1 when the sum is wrong. It has its own main(); Google Benchmark is linked but not used.
#include "skynet.hpp"

#include <fiber/fiber.hpp>

#include <chrono>
#include <cstdio>

using weft_bench::skynet;

int main() {
  fiber::run([] {});  // the default runtime's workers are up: their start-up is not measured
  const auto t0 = std::chrono::steady_clock::now();
  const long sum = fiber::run([] { return skynet(0, 1'000'000); });
  const auto t1 = std::chrono::steady_clock::now();
  std::printf("workers=%u sum=%ld ms=%.1f\n", fiber::default_runtime().workers(), sum,
              std::chrono::duration<double, std::milli>(t1 - t0).count());
  return sum == 499'999'500'000L ? 0 : 1;
}
