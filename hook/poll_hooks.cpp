// poll_hooks.cpp — poll, ppoll, select, pselect and the fortified __poll_chk.
//
// Owns: translating each call's descriptor set into a readiness wait (readiness.hpp) on a fiber.
// The kernel call itself is always made with a zero timeout, so its results, revents bits,
// POLLNVAL/EBADF/EINVAL behaviour and fd_set rewriting are libc's own; between checks the fiber
// parks on a readiness set of the same descriptors until one may be ready or the timeout passes —
// or, for a single managed socket/FIFO polled in one direction, on that descriptor's own
// poll_descriptor, which costs no more than a blocking read's wait.
// Off a fiber, and for zero timeouts, the call is libc's. ppoll/pselect's signal mask is applied
// only during each zero-timeout check on a fiber (signals are per worker thread, not per fiber).
// select/pselect report the remaining time in the timeval as Linux does; ppoll/pselect leave theirs.
// A stop request on the waiting fiber ends the wait with EINTR.
// Descriptors close() is tearing down (fd_table.hpp) count as closed, on any thread: poll reports
// them POLLNVAL at once, select fails with EBADF. A poll parked on a descriptor's own poll_descriptor
// and woken by its close or dup2 waits for that to complete and goes on as Linux's poll does after
// a wake-up: it looks the number up again (POLLNVAL if closed, the new file if replaced).
#include <poll.h>
#include <sys/select.h>

#include <algorithm>
#include <chrono>
#include <fiber/detail/park.hpp>
#include <fiber/detail/sanitizers.hpp>  // WEFT_TSAN
#include <hook/blocking_io.hpp>
#include <hook/original.hpp>
#include <hook/posix_time.hpp>
#include <hook/readiness.hpp>
#include <vector>

extern "C" [[noreturn]] void __chk_fail(void);

namespace {

using fiber::detail::clock;
using weft::hook::detail::interest;
using weft::hook::detail::io_kind;
using namespace std::chrono;

namespace wh = weft::hook::detail;

// Unlike other hooks, poll never waits out a replacement (dup2) of a member: a plain thread's
// blocking call on a managed fd waits in poll() while it holds an operation on that fd, which the
// replacement is waiting for. During a replacement the member is what the kernel says (old or new
// file), as with Linux's atomic dup2.
bool closing(int fd) noexcept {
  return wh::being_closed(fd);
}

bool any_closing(const pollfd* fds, nfds_t n) noexcept {
  for (nfds_t i = 0; i < n; ++i)
    if (closing(fds[i].fd)) return true;
  return false;
}

// poll's answer `r` with every descriptor being closed reported as the kernel reports a closed one.
int mark_closing(pollfd* fds, nfds_t n, int r) noexcept {
  if (r < 0) return r;
  for (nfds_t i = 0; i < n; ++i) {
    if (!closing(fds[i].fd)) continue;
    if (fds[i].revents == 0) ++r;
    fds[i].revents = POLLNVAL;
  }
  return r;
}

// select's sets name a descriptor being closed: the call fails as with a closed one.
bool select_refused(int nfds, const fd_set* r, const fd_set* w, const fd_set* x) noexcept {
  for (int fd = 0; fd < nfds; ++fd) {
    if (!((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (x && FD_ISSET(fd, x)))) continue;
    if (closing(fd)) {
      errno = EBADF;
      return true;
    }
  }
  return false;
}

constexpr std::uint32_t poll_event_bits =
    POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND | POLLWRNORM | POLLWRBAND | POLLRDHUP;

std::vector<interest> interests_of(const pollfd* fds, nfds_t n) {
  std::vector<interest> set;
  set.reserve(n);
  for (nfds_t i = 0; i < n; ++i)
    set.push_back({fds[i].fd, static_cast<std::uint32_t>(fds[i].events) & poll_event_bits});
  return set;
}

enum class one_wait { not_applicable, done, torn_down };

// The common case — one socket or FIFO the hooks manage, one direction (a client library waiting
// to read or to write) — waits on the descriptor's own poll_descriptor, as a blocking read would,
// instead of building a readiness set. `not_applicable` (nothing done): other events, an unmanaged
// fd, or another fiber already waiting in that direction. `torn_down`: a close or dup2 of the fd
// ended the wait; the caller looks again once it completed (the scope is left by then, so the
// teardown's drain does not wait for us).
template <class Check>
one_wait poll_one_managed(const pollfd& p, clock::time_point deadline, Check& check, int& result) {
  constexpr auto read_bits = static_cast<short>(POLLIN | POLLRDNORM | POLLRDHUP);
  constexpr auto write_bits = static_cast<short>(POLLOUT | POLLWRNORM);
  io_kind kind;
  if (p.events != 0 && (p.events & ~read_bits) == 0)
    kind = io_kind::read;
  else if (p.events != 0 && (p.events & ~write_bits) == 0)
    kind = io_kind::write;
  else
    return one_wait::not_applicable;
  wh::fd_entry* e = wh::lookup_or_init(p.fd);
  if (!e || e->state.load(std::memory_order_acquire) != wh::fd_state::managed) return one_wait::not_applicable;
  wh::op_scope scope(*e, kind, deadline, /*try_only=*/true);
  if (scope.error()) return one_wait::not_applicable;
  // The caller's check just found nothing ready; an edge since then moves the descriptor's edge
  // count past what its last wait consumed (or is reported by its first registration), so waiting
  // first loses nothing.
  wh::note_blocking_call("poll");
  for (;;) {
    auto ec = scope.pd()->wait(kind, deadline);
    if (ec == std::errc::bad_file_descriptor) return one_wait::torn_down;
    result = check();
    if (result != 0) return one_wait::done;
    if (ec) {  // timed out (result 0) or stop requested
      if (ec != std::errc::timed_out) {
        errno = wh::errno_for_wait(ec);
        result = -1;
      }
      return one_wait::done;
    }
  }
}

template <class Check>
int poll_wait(const pollfd* fds, nfds_t n, clock::time_point deadline, Check&& check) {
#ifndef WEFT_TSAN  // TSan stops tracking atomics inside its poll interceptor (see readiness.hpp)
  if (n == 1 && fds[0].fd >= 0) {
    int r = check();
    if (r != 0 || clock::now() >= deadline) return r;
    switch (poll_one_managed(fds[0], deadline, check, r)) {
      case one_wait::done:
        return r;
      case one_wait::torn_down:
        wh::await_teardown(fds[0].fd);  // bounded: its drain does not wait for us any more
        break;
      case one_wait::not_applicable:
        break;
    }
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
    if (r && FD_ISSET(fd, &r0)) ev |= POLLIN;
    if (w && FD_ISSET(fd, &w0)) ev |= POLLOUT;
    if (x && FD_ISSET(fd, &x0)) ev |= POLLPRI;
    if (ev) set.push_back({fd, ev});
  }
  return weft::hook::detail::wait_for_readiness(set.data(), set.size(), deadline, [&] {
    if (r) *r = r0;
    if (w) *w = w0;
    if (x) *x = x0;
    if (select_refused(nfds, r, w, x)) return -1;
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
  if (!fiber::detail::in_fiber() || timeout == 0) {
    if (any_closing(fds, n)) return mark_closing(fds, n, WEFT_ORIG(poll)(fds, n, 0));  // ready at once
    return WEFT_ORIG(poll)(fds, n, timeout);
  }
  return poll_wait(fds, n, wh::deadline_after_ms(timeout),
                   [&] { return mark_closing(fds, n, WEFT_ORIG(poll)(fds, n, 0)); });
}

int __poll_chk(pollfd* fds, nfds_t n, int timeout, size_t fdslen) {
  if (fdslen / sizeof(pollfd) < n) __chk_fail();
  return poll(fds, n, timeout);
}

int ppoll(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask) {
  timespec zero{0, 0};
  bool invalid = ts && !wh::valid_timespec(*ts);
  if (!fiber::detail::in_fiber() || invalid || (ts && ts->tv_sec == 0 && ts->tv_nsec == 0)) {
    if (!invalid && any_closing(fds, n)) return mark_closing(fds, n, WEFT_ORIG(ppoll)(fds, n, &zero, mask));
    return WEFT_ORIG(ppoll)(fds, n, ts, mask);
  }
  return poll_wait(fds, n, wh::deadline_after_ts(ts),
                   [&] { return mark_closing(fds, n, WEFT_ORIG(ppoll)(fds, n, &zero, mask)); });
}

int select(int nfds, fd_set* r, fd_set* w, fd_set* x, timeval* tv) {
  bool invalid = (tv && (tv->tv_sec < 0 || tv->tv_usec < 0)) || nfds < 0 || nfds > FD_SETSIZE;
  if (!fiber::detail::in_fiber() || invalid || (tv && tv->tv_sec == 0 && tv->tv_usec == 0)) {
    if (!invalid && select_refused(nfds, r, w, x)) return -1;
    return WEFT_ORIG(select)(nfds, r, w, x, tv);
  }
  auto deadline = tv ? fiber::detail::deadline_after_ns(wh::timeval_ns(*tv)) : fiber::detail::no_deadline;
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
  bool invalid = (ts && !wh::valid_timespec(*ts)) || nfds < 0 || nfds > FD_SETSIZE;
  if (!fiber::detail::in_fiber() || invalid || (ts && ts->tv_sec == 0 && ts->tv_nsec == 0)) {
    if (!invalid && select_refused(nfds, r, w, x)) return -1;
    return WEFT_ORIG(pselect)(nfds, r, w, x, ts, mask);
  }
  return do_select(nfds, r, w, x, wh::deadline_after_ts(ts), mask, true);
}

}  // extern "C"
