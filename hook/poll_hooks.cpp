// poll_hooks.cpp — poll, ppoll, select, pselect and the fortified __poll_chk.
//
// Owns: translating each call's descriptor set into a readiness wait (readiness.hpp) on a fiber.
// The kernel call itself is always made with a zero timeout, so its results, revents bits,
// POLLNVAL/EBADF/EINVAL behaviour and fd_set rewriting are libc's own; between checks the fiber
// parks on a private epoll of the same descriptors until one may be ready or the timeout passes —
// or, for a single managed socket/FIFO polled in one direction, on that descriptor's own
// poll_descriptor, which costs no more than a blocking read's wait.
// Off a fiber, and for zero timeouts, the call is libc's. ppoll/pselect's signal mask is applied
// only during each zero-timeout check on a fiber (signals are per worker thread, not per fiber).
// select/pselect report the remaining time in the timeval as Linux does; ppoll/pselect leave theirs.
// A stop request on the waiting fiber ends the wait with EINTR.
#include <poll.h>
#include <sys/select.h>

#include <algorithm>
#include <chrono>
#include <fiber/detail/context_switch.hpp>  // WEFT_TSAN
#include <fiber/detail/park.hpp>
#include <hook/blocking_io.hpp>
#include <hook/original.hpp>
#include <hook/readiness.hpp>
#include <vector>

extern "C" [[noreturn]] void __chk_fail(void);

namespace {

using fiber::detail::clock;
using weft::hook::detail::interest;
using weft::hook::detail::io_kind;
using namespace std::chrono;

clock::time_point deadline_after(nanoseconds d) noexcept {
  if (d < nanoseconds::zero()) return fiber::detail::no_deadline;
  return clock::now() + d;
}

nanoseconds from_timespec(const timespec* ts) noexcept {
  if (!ts) return nanoseconds(-1);
  return seconds(ts->tv_sec) + nanoseconds(ts->tv_nsec);
}

constexpr std::uint32_t poll_event_bits = POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND | POLLWRNORM |
                                          POLLWRBAND | POLLRDHUP;

std::vector<interest> interests_of(const pollfd* fds, nfds_t n) {
  std::vector<interest> set;
  set.reserve(n);
  for (nfds_t i = 0; i < n; ++i) set.push_back({fds[i].fd, static_cast<std::uint32_t>(fds[i].events) & poll_event_bits});
  return set;
}

// The common case — one socket or FIFO the hooks manage, one direction (a client library waiting
// to read or to write) — waits on the descriptor's own poll_descriptor, as a blocking read would,
// instead of building a private epoll. Returns false (nothing done) when that does not apply: other
// events, an unmanaged fd, or another fiber already waiting in that direction.
template <class Check>
bool poll_one_managed(const pollfd& p, clock::time_point deadline, Check& check, int& result) {
  namespace wh = weft::hook::detail;
  constexpr auto read_bits = static_cast<short>(POLLIN | POLLRDNORM | POLLRDHUP);
  constexpr auto write_bits = static_cast<short>(POLLOUT | POLLWRNORM);
  io_kind kind;
  if (p.events != 0 && (p.events & ~read_bits) == 0)
    kind = io_kind::read;
  else if (p.events != 0 && (p.events & ~write_bits) == 0)
    kind = io_kind::write;
  else
    return false;
  wh::fd_entry* e = wh::lookup_or_init(p.fd);
  if (!e || e->state.load(std::memory_order_acquire) != wh::fd_state::managed) return false;
  wh::op_scope scope(*e, kind, deadline, /*try_only=*/true);
  if (scope.error()) return false;
  // The caller's check just found nothing ready; an edge since then sets the descriptor's sticky
  // ready bit (or is reported by its first registration), so waiting first loses nothing.
  wh::note_blocking_call("poll");
  for (;;) {
    auto ec = scope.pd()->wait(kind, deadline);
    result = check();
    if (result != 0) return true;
    if (ec) {  // timed out (result 0), closed or stop requested
      if (ec != std::errc::timed_out) {
        errno = wh::errno_for_wait(ec);
        result = -1;
      }
      return true;
    }
  }
}

template <class Check>
int poll_wait(const pollfd* fds, nfds_t n, clock::time_point deadline, Check&& check) {
#ifndef WEFT_TSAN  // TSan stops tracking atomics inside its poll interceptor (see readiness.hpp)
  if (n == 1 && fds[0].fd >= 0) {
    int r = check();
    if (r != 0 || clock::now() >= deadline) return r;
    if (poll_one_managed(fds[0], deadline, check, r)) return r;
  }
#endif
  auto set = interests_of(fds, n);
  return weft::hook::detail::wait_for_readiness(set.data(), set.size(), deadline, check);
}

int do_select(int nfds, fd_set* r, fd_set* w, fd_set* x, clock::time_point deadline, const sigset_t* mask,
              bool is_pselect) {
  fd_set r0, w0, x0;
  if (r) r0 = *r;
  if (w) w0 = *w;
  if (x) x0 = *x;
  std::vector<interest> set;
  for (int fd = 0; fd < nfds; ++fd) {
    std::uint32_t ev = 0;
    if (r && FD_ISSET(fd, &r0)) ev |= EPOLLIN;
    if (w && FD_ISSET(fd, &w0)) ev |= EPOLLOUT;
    if (x && FD_ISSET(fd, &x0)) ev |= EPOLLPRI;
    if (ev) set.push_back({fd, ev});
  }
  return weft::hook::detail::wait_for_readiness(set.data(), set.size(), deadline, [&] {
    if (r) *r = r0;
    if (w) *w = w0;
    if (x) *x = x0;
    if (is_pselect) {
      timespec zero{0, 0};
      return WEFT_ORIG(pselect)(nfds, r, w, x, &zero, mask);
    }
    timeval zero{0, 0};
    return WEFT_ORIG(select)(nfds, r, w, x, &zero);
  });
}

}  // namespace

extern "C" {

int poll(pollfd* fds, nfds_t n, int timeout) {
  if (!fiber::detail::in_fiber() || timeout == 0) return WEFT_ORIG(poll)(fds, n, timeout);
  return poll_wait(fds, n, deadline_after(milliseconds(timeout)), [&] { return WEFT_ORIG(poll)(fds, n, 0); });
}

int __poll_chk(pollfd* fds, nfds_t n, int timeout, size_t fdslen) {
  if (fdslen / sizeof(pollfd) < n) __chk_fail();
  return poll(fds, n, timeout);
}

int ppoll(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask) {
  if (!fiber::detail::in_fiber() || (ts && ts->tv_sec == 0 && ts->tv_nsec == 0) ||
      (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1'000'000'000)))
    return WEFT_ORIG(ppoll)(fds, n, ts, mask);
  timespec zero{0, 0};
  return poll_wait(fds, n, deadline_after(from_timespec(ts)), [&] { return WEFT_ORIG(ppoll)(fds, n, &zero, mask); });
}

int select(int nfds, fd_set* r, fd_set* w, fd_set* x, timeval* tv) {
  if (!fiber::detail::in_fiber() || (tv && tv->tv_sec == 0 && tv->tv_usec == 0) ||
      (tv && (tv->tv_sec < 0 || tv->tv_usec < 0)) || nfds < 0 || nfds > FD_SETSIZE)
    return WEFT_ORIG(select)(nfds, r, w, x, tv);
  auto d = tv ? nanoseconds(seconds(tv->tv_sec) + microseconds(tv->tv_usec)) : nanoseconds(-1);
  auto deadline = deadline_after(d);
  int res = do_select(nfds, r, w, x, deadline, nullptr, false);
  if (tv && res >= 0) {  // Linux reports the time not slept
    auto left = std::max(nanoseconds::zero(), deadline - clock::now());
    if (res == 0) left = nanoseconds::zero();
    tv->tv_sec = static_cast<time_t>(duration_cast<seconds>(left).count());
    tv->tv_usec = static_cast<suseconds_t>(duration_cast<microseconds>(left % seconds(1)).count());
  }
  return res;
}

int pselect(int nfds, fd_set* r, fd_set* w, fd_set* x, const timespec* ts, const sigset_t* mask) {
  if (!fiber::detail::in_fiber() || (ts && ts->tv_sec == 0 && ts->tv_nsec == 0) ||
      (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1'000'000'000)) || nfds < 0 || nfds > FD_SETSIZE)
    return WEFT_ORIG(pselect)(nfds, r, w, x, ts, mask);
  return do_select(nfds, r, w, x, deadline_after(from_timespec(ts)), mask, true);
}

}  // extern "C"
