// park.hpp — the one blocking primitive every other layer is built on.
//
//   auto token = fiber::detail::prepare_park();   // 1. announce: "I am about to park"
//   waiters.push(token); lock.unlock();           // 2. publish yourself where a waker finds you
//   auto why = fiber::detail::park(token);        // 3. sleep until unpark(token), a deadline or a stop
//
// The caller is either a fiber (it parks; its worker runs others) or a plain OS thread (it blocks
// on a futex). Both look the same to wakers, so every sync/ and net/ type works from both.
//
// Protocol (why no wake-up is ever lost): a parker owns a 64-bit word = (sequence << 3) | state.
// prepare_park() bumps the sequence and sets PARKING before the token is published. unpark(token)
// CASes PARKING or PARKED -> WOKEN(reason) only if the sequence still matches, so exactly one waker
// wins and stale tokens from earlier parks are harmless. A fiber's switch away is committed *after*
// it has left its stack (PARKING -> PARKED, run by the next context); if a waker got there first
// the commit fails and the fiber is simply made runnable again. The winner of the CAS decides the
// reason park() returns: a waker that loses must assume its wake-up was not delivered.
#pragma once

#include <fiber/detail/deadline.hpp>

#include <chrono>
#include <cstdint>
#include <stop_token>

namespace fiber::detail {

enum class wake_reason : std::uint8_t { notified, timeout, stopped };

struct parker;

struct park_token {
  parker* who = nullptr;
  std::uint64_t seq = 0;
  explicit operator bool() const noexcept { return who != nullptr; }
};

// Step 1: returns the calling fiber's (or OS thread's) token for its next park.
park_token prepare_park() noexcept;

// Step 3: parks until unpark(token), `deadline` (timeout) or a stop request on `stop` (stopped).
wake_reason park(park_token token) noexcept;
wake_reason park_until(park_token token, clock::time_point deadline) noexcept;
wake_reason park_until(park_token token, clock::time_point deadline, const std::stop_token& stop) noexcept;

// park_until(token, deadline, this_fiber's stop token), without touching the token: a stop request
// on the calling fiber (its handle's request_stop(), a fiber::thread's stop source) ends the park
// with `stopped`. On an OS thread, which has no such stop source, it is park_until(token, deadline).
wake_reason park_until_own_stop(park_token token, clock::time_point deadline) noexcept;
// current_stop_token().stop_requested(), without copying the token.
bool own_stop_requested() noexcept;

// Wakes the parker if `token` is still its current park. True iff this call delivered the wake-up.
bool unpark(park_token token, wake_reason why = wake_reason::notified) noexcept;

// Called by every try_ operation that failed without waiting (try_lock, try_acquire, try_wait,
// a zero-timeout wait): after several failures in a row without a switch in between, the calling
// fiber yields, so `while (!m.try_lock()) {}` lets the fiber that would release it run. On an OS
// thread it does nothing (the kernel preempts threads).
void note_failed_try() noexcept;

// Who holds a lock (the calling fiber, or the calling OS thread's parker) and where it runs: lock
// waiters spin only while the holder is on a CPU (running on another worker), never against a
// fiber that is switched out.
struct holder {
  static constexpr std::uint32_t no_cpu = ~std::uint32_t{0};
  const void* who = nullptr;
  std::uint32_t cpu = no_cpu;  // the worker's slot; no_cpu for OS threads
};
holder current_holder() noexcept;
// True when spinning for this holder may pay off: it runs on another worker right now (or is an
// OS thread, which cannot be told) and the caller's own worker has nothing else ready to run.
bool holder_running_elsewhere(const void* who, std::uint32_t cpu) noexcept;

// True when the caller runs on a fiber (false on main or a plain thread).
bool in_fiber() noexcept;

// The calling fiber's stop token (empty, never stops, when called outside a fiber).
std::stop_token current_stop_token() noexcept;

// Name of the calling fiber or thread for diagnostics: "fiber 'conn-7' (id 12)" / "thread".
const char* current_name_for_diagnostics() noexcept;

}  // namespace fiber::detail
