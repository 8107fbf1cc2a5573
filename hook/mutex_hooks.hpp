// mutex_hooks.hpp — the fiber side of the pthread mutex hooks (mutex_hooks.cpp), which the
// condition-variable hooks (cond_hooks.cpp) use to release and re-acquire their mutex.
//
// Owns nothing beyond mutex_hooks.cpp; see its header for the protocol and invariants.
#pragma once

#include <pthread.h>

#include <hook/posix_time.hpp>

namespace fiber::detail {
struct fiber_control;
}

namespace weft::hook::detail {

// The clocks pthread_mutex_clocklock and pthread_cond_clockwait accept.
inline bool pthread_clock_ok(clockid_t clk) noexcept {
  return clk == CLOCK_REALTIME || clk == CLOCK_MONOTONIC;
}

// Locks `m` (of PTHREAD_MUTEX_*_NP `type`) for the calling fiber `self`, parking while it is busy,
// until `abs` (null: no time limit). `return_address`: the hooked call's caller, to decide whether
// it may park (null: known to be allowed). Returns 0 or glibc's error codes.
int lock_on_fiber(pthread_mutex_t* m, int type, fiber::detail::fiber_control* self, const clock_time* abs,
                  const void* return_address) noexcept;

// pthread_mutex_unlock from anyone (fiber or thread): glibc's unlock, keeping the per-worker records,
// then wakes one fiber parked on `m`.
int unlock_any(pthread_mutex_t* m) noexcept;

}  // namespace weft::hook::detail
