// skynet.hpp — the skynet tree shared by bench/core_bench.cpp (in-process, per worker count) and
// bench/skynet.cpp (a fresh process through fiber::run): a 10-ary tree of `size` leaf fibers, each
// returning its number to its parent through join. skynet(0, 1'000'000) is 499'999'500'000.
#pragma once

#include <fiber/fiber.hpp>

#include <vector>

namespace weft_bench {

inline long skynet(long num, long size) {
  if (size == 1) return num;
  std::vector<fiber::join_handle<long>> kids;
  kids.reserve(10);
  const long sub = size / 10;
  for (long i = 0; i < 10; ++i)
    kids.push_back(fiber::spawn({.name = {}, .stack_size = 32 * 1024}, skynet, num + i * sub, sub));
  long sum = 0;
  for (auto& k : kids) sum += k.join();
  return sum;
}

}  // namespace weft_bench
