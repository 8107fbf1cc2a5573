// fast_clock.hpp — a cheap monotonic timestamp for the observability paths (wait records' "since",
// WEFT_LATENCY_STATS timestamps): the TSC on x86-64 (a few ns, no syscall, no vDSO call), converted
// to nanoseconds with a factor calibrated once against CLOCK_MONOTONIC; clock_gettime elsewhere.
// Only differences and ages are ever computed from it.
#pragma once

#include <cstdint>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace fiber::detail {

inline std::uint64_t fast_ticks() noexcept {
#if defined(__x86_64__)
  return __rdtsc();
#else
  return slow_ticks();
#endif
}
#if !defined(__x86_64__)
std::uint64_t slow_ticks() noexcept;  // CLOCK_MONOTONIC nanoseconds
#endif

double ns_per_tick() noexcept;  // calibrated on first use (~2 ms), then a constant
inline std::int64_t ticks_to_ns(std::int64_t ticks) noexcept {
  return static_cast<std::int64_t>(static_cast<double>(ticks) * ns_per_tick());
}

}  // namespace fiber::detail
