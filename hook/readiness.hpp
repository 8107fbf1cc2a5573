// readiness.hpp — parking a fiber until any of a set of descriptors may be ready (poll, select and
// epoll_wait on fibers).
//
// Owns: one wait. The set is copied into a private, level-triggered epoll instance created for the
// call; that instance is itself a descriptor, registered with the worker's reactor through a
// poll_descriptor, so the fiber parks until the kernel reports readiness on any member, the deadline
// passes or its stop token fires — no polling, no extra latency. The caller's own zero-timeout
// syscall (`check`) always decides the result, so revents bits, POLLNVAL, fd_set rewriting and error
// codes are exactly libc's; the private epoll only says when to check again.
//
// Invariants: before every re-check the private epoll is drained (a zero-timeout epoll_wait), so a
// member that became not-ready again (another fiber consumed the data) leaves its ready list and its
// next readiness raises a fresh edge on the reactor; a wake-up is never lost. Members epoll refuses
// (regular files: always ready, which `check` already reported) are skipped. If the private epoll
// cannot be built (EMFILE, ENOMEM, watch limit) the wait falls back to re-checking on the worker's
// timer with a 1–10 ms back-off; builds instrumented with ThreadSanitizer always do (it ignores
// synchronization inside its poll/epoll_wait interceptors). Private epolls are closed before returning.
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <fiber/detail/park.hpp>
#include <hook/lock_check.hpp>

namespace weft::hook::detail {

struct interest {
  int fd;
  std::uint32_t events;  // EPOLLIN/EPOLLOUT/EPOLLPRI/... (poll's bits have the same values)
};

// Result of waiting: ready (check again), timed out, or an errno to report (EINTR on a stop request).
struct wait_outcome {
  bool timed_out = false;
  int error = 0;
};

// A private epoll over `set` (n entries; duplicate fds merged); fd() < 0 if it could not be built.
class readiness_set {
 public:
  readiness_set(const interest* set, std::size_t n) noexcept;
  ~readiness_set();
  readiness_set(const readiness_set&) = delete;
  readiness_set& operator=(const readiness_set&) = delete;
  bool usable() const noexcept { return pd_ != nullptr; }
  // Parks until a member may be ready or `deadline`. Drains the private epoll first.
  wait_outcome wait(fiber::detail::clock::time_point deadline) noexcept;

 private:
  int epfd_ = -1;
  void* pd_ = nullptr;  // fiber::net::detail::poll_descriptor owning epfd_
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
  readiness_set rs(set, n);
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
