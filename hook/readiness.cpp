// readiness.cpp — the wait behind poll/select/epoll_wait on fibers (readiness.hpp), on net's
// readiness_set.
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <fiber/detail/os/poller.hpp>
#include <fiber/detail/park.hpp>
#include <fiber/detail/sanitizers.hpp>
#include <fiber/this_fiber.hpp>
#include <hook/blocking_io.hpp>
#include <hook/fd_table.hpp>
#include <hook/readiness.hpp>
#include <net/detail/readiness_set.hpp>
#include <new>

namespace weft::hook::detail {

using fiber::net::detail::readiness_set;

namespace {
std::uint32_t as_io_events(std::uint32_t poll_bits) noexcept {
  using namespace fiber::detail;
  std::uint32_t e = 0;
  if (poll_bits & (POLLIN | POLLRDNORM | POLLRDBAND | POLLRDHUP)) e |= io_readable;
  if (poll_bits & (POLLOUT | POLLWRNORM | POLLWRBAND)) e |= io_writable;
  if (poll_bits & POLLPRI) e |= io_priority;
  return e;
}
}  // namespace

readiness_wait::readiness_wait(const interest* set, std::size_t n) noexcept {
#ifdef WEFT_TSAN
  // ThreadSanitizer runs poll/select/epoll_wait inside a "blocking call" during which it stops
  // tracking atomics, so the lock-protected descriptor pool would look racy to it. Builds under
  // TSan therefore use the timer fallback (same results, coarser wake-ups).
  (void)set;
  (void)n;
  return;
#endif
  internal_scope guard;  // nothing below may re-enter the hooks
  auto* rs = new (std::nothrow) readiness_set();
  if (!rs) return;
  if (!rs->usable()) {
    delete rs;
    return;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (set[i].fd < 0) continue;
    std::uint32_t events = as_io_events(set[i].events);
    for (std::size_t j = 0; j < i; ++j)  // the same fd twice: wait for the union of its events
      if (set[j].fd == set[i].fd) events |= as_io_events(set[j].events);
    const auto ec = rs->watch(set[i].fd, events);
    if (!ec) continue;
    if (ec.value() == EPERM || ec.value() == EBADF) continue;  // always ready / invalid: `check` reports both
    delete rs;                                                 // ENOMEM, ENOSPC (watch limit), ELOOP: fall back
    return;
  }
  set_ = rs;
}

readiness_wait::~readiness_wait() {
  internal_scope guard;
  delete static_cast<readiness_set*>(set_);
}

wait_outcome readiness_wait::wait(fiber::detail::clock::time_point deadline) noexcept {
  auto ec = static_cast<readiness_set*>(set_)->wait(deadline);
  if (!ec) return {};
  if (ec == std::errc::timed_out) return {true, 0};
  return {false, errno_for_wait(ec)};
}

wait_outcome backoff_wait(fiber::detail::clock::time_point deadline, std::chrono::nanoseconds& backoff) noexcept {
  if (fiber::detail::own_stop_requested()) return {false, EINTR};  // as the reactor wait does
  auto now = fiber::detail::clock::now();
  if (now >= deadline) return {true, 0};
  auto nap =
      deadline == fiber::detail::no_deadline ? backoff : std::min(backoff, std::chrono::nanoseconds(deadline - now));
  fiber::this_fiber::sleep_for(nap);
  backoff = std::min(backoff * 2, std::chrono::nanoseconds(std::chrono::milliseconds(10)));
  return {};
}

}  // namespace weft::hook::detail
