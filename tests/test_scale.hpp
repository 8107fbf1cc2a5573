// test_scale.hpp — scales stress counts for slow builds: sanitizer runs set WEFT_STRESS_SCALE=10
// (divide counts by 10) and TSan, which tracks every fiber as a thread, caps live fibers near 8k.
#pragma once

#include <algorithm>
#include <cstdlib>

namespace weft_test {

inline long scaled(long n) {
  const char* env = std::getenv("WEFT_STRESS_SCALE");
  long div = env ? std::max(1L, std::atol(env)) : 1L;
  return std::max(1L, n / div);
}

}  // namespace weft_test
