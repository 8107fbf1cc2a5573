// readiness.hpp — parking a fiber until any of a set of descriptors may be ready (poll, select and
// epoll_wait on fibers).
//
// Owns: one wait, on net's readiness_set (net/detail/readiness_set.hpp): the set's members are
// watched level-triggered in a private descriptor set that is itself registered with the worker's
// poller, so the fiber parks until the kernel reports readiness on any member, the deadline passes
// or its stop token fires — no polling, no extra latency. The caller's own zero-timeout syscall
// (`check`) always decides the result, so revents bits, POLLNVAL, fd_set rewriting and error codes
// are exactly libc's; the set only says when to check again. Members the set refuses (regular
// files: always ready, which `check` already reported) are skipped. If the set cannot be built
// (EMFILE, ENOMEM, watch limit) the wait falls back to re-checking on the worker's timer with a
// 1–10 ms back-off; builds instrumented with ThreadSanitizer always do (it ignores synchronization
// inside its poll/epoll_wait interceptors).
#pragma once

#include <chrono>
#include <cstdint>
#include <fiber/detail/park.hpp>
#include <hook/lock_check.hpp>

namespace weft::hook::detail {

struct interest {
  int fd;
  std::uint32_t events;  // poll(2) bits (POLLIN/POLLOUT/POLLPRI/...; epoll's EPOLL* share the values)
};

// Result of waiting: ready (check again), timed out, or an errno to report (EINTR on a stop request).
struct wait_outcome {
  bool timed_out = false;
  int error = 0;
};

// Parks until a member of `set` may be ready or `deadline` (one wait of wait_for_readiness).
class readiness_wait {
 public:
  readiness_wait(const interest* set, std::size_t n) noexcept;
  ~readiness_wait();
  readiness_wait(const readiness_wait&) = delete;
  readiness_wait& operator=(const readiness_wait&) = delete;
  bool usable() const noexcept { return set_ != nullptr; }
  wait_outcome wait(fiber::detail::clock::time_point deadline) noexcept;

 private:
  void* set_ = nullptr;  // fiber::net::detail::readiness_set
};

// Sleeps on the worker's timer (1 ms doubling to 10 ms, capped by the deadline): the fallback.
// A stop request on the fiber ends it with EINTR, like the reactor wait.
wait_outcome backoff_wait(fiber::detail::clock::time_point deadline, std::chrono::nanoseconds& backoff) noexcept;

// The loop every hook uses: `check()` (a zero-timeout syscall, returning >0 ready, 0 nothing, <0
// error with errno set) until it reports something, the deadline passes (returns 0) or the fiber is
// asked to stop (-1/EINTR).
template <class Check>
int wait_for_readiness(const interest* set, std::size_t n, fiber::detail::clock::time_point deadline, Check&& check) {
  int r = check();
  if (r != 0 || fiber::detail::clock::now() >= deadline) return r;
  note_blocking_call("poll/select/epoll_wait");
  readiness_wait rs(set, n);
  auto backoff = std::chrono::nanoseconds(std::chrono::milliseconds(1));
  for (;;) {
    auto out = rs.usable() ? rs.wait(deadline) : backoff_wait(deadline, backoff);
    r = check();
    if (r != 0) return r;
    if (out.error) {
      errno = out.error;
      return -1;
    }
    if (out.timed_out || fiber::detail::clock::now() >= deadline) return 0;
  }
}

}  // namespace weft::hook::detail
