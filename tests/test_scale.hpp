// test_scale.hpp — scales stress counts for slow builds: sanitizer runs set WEFT_STRESS_SCALE=10
// (divide counts by 10) and TSan, which tracks every fiber as a thread, caps live fibers near 8k.
#pragma once

#include <algorithm>
#include <cstdlib>

namespace weft_test {

// The divisor of the sanitizer runs (1 when WEFT_STRESS_SCALE is unset).
inline long stress_divisor() {
  const char* env = std::getenv("WEFT_STRESS_SCALE");
  return env ? std::max(1L, std::atol(env)) : 1L;
}

inline long scaled(long n) {
  return std::max(1L, n / stress_divisor());
}

}  // namespace weft_test
