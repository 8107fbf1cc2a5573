// readiness.cpp — the private-epoll wait behind poll/select/epoll_wait on fibers (readiness.hpp).
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fiber/detail/context_switch.hpp>  // WEFT_TSAN
#include <fiber/detail/park.hpp>
#include <fiber/this_fiber.hpp>
#include <hook/blocking_io.hpp>
#include <hook/fd_table.hpp>
#include <hook/original.hpp>
#include <hook/readiness.hpp>
#include <net/detail/poll_descriptor.hpp>

namespace weft::hook::detail {

using fiber::net::detail::poll_descriptor;

readiness_set::readiness_set(const interest* set, std::size_t n) noexcept {
#ifdef WEFT_TSAN
  // ThreadSanitizer runs poll/select/epoll_wait inside a "blocking call" during which it stops
  // tracking atomics, so the lock-protected descriptor pool would look racy to it. Builds under
  // TSan therefore use the timer fallback (same results, coarser wake-ups).
  (void)set;
  (void)n;
  return;
#endif
  internal_scope guard;  // nothing below may re-enter the hooks
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) return;
  for (std::size_t i = 0; i < n; ++i) {
    if (set[i].fd < 0) continue;
    epoll_event ev{};
    ev.events = set[i].events;
    ev.data.fd = set[i].fd;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, set[i].fd, &ev) == 0) continue;
    if (errno == EEXIST) {  // the same fd twice: wait for the union of its events
      for (std::size_t j = 0; j < i; ++j)
        if (set[j].fd == set[i].fd) ev.events |= set[j].events;
      if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, set[i].fd, &ev) == 0) continue;
    }
    if (errno == EPERM || errno == EBADF) continue;  // always ready / invalid: `check` reports both
    WEFT_ORIG(close)(epfd_);                         // ENOMEM, ENOSPC (watch limit), ELOOP: fall back
    epfd_ = -1;
    return;
  }
  pd_ = poll_descriptor::create(epfd_, /*owns_fd=*/true);
}

readiness_set::~readiness_set() {
  if (pd_) {
    static_cast<poll_descriptor*>(pd_)->release();  // deregisters and closes epfd_
  } else if (epfd_ >= 0) {
    WEFT_ORIG(close)(epfd_);
  }
}

wait_outcome readiness_set::wait(fiber::detail::clock::time_point deadline) noexcept {
  auto* pd = static_cast<poll_descriptor*>(pd_);
  // Drain: members that are not ready leave the ready list (so their next readiness is a new edge).
  // Anything still ready means a race with `check`: look again, after letting others run.
  epoll_event drained[16];
  if (::epoll_wait(epfd_, drained, 16, 0) > 0) {
    fiber::this_fiber::yield();
    return {};
  }
  if (!pd->begin_op()) return {false, EBADF};
  auto ec = pd->wait(fiber::net::detail::io_kind::read, deadline);
  pd->end_op();
  if (!ec) return {};
  if (ec == std::errc::timed_out) return {true, 0};
  return {false, errno_for_wait(ec)};
}

wait_outcome backoff_wait(fiber::detail::clock::time_point deadline, std::chrono::nanoseconds& backoff) noexcept {
  if (fiber::detail::current_stop_token().stop_requested()) return {false, EINTR};  // as the reactor wait does
  auto now = fiber::detail::clock::now();
  if (now >= deadline) return {true, 0};
  auto nap = deadline == fiber::detail::no_deadline ? backoff : std::min(backoff, std::chrono::nanoseconds(deadline - now));
  fiber::this_fiber::sleep_for(nap);
  backoff = std::min(backoff * 2, std::chrono::nanoseconds(std::chrono::milliseconds(10)));
  return {};
}

}  // namespace weft::hook::detail
