// poller_epoll.cpp — Linux backend of poller.hpp: epoll, edge-triggered, plus an eventfd for
// cross-thread wake-ups.
#include <fiber/detail/poller.hpp>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <system_error>

namespace fiber::detail {

poller::poller() {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "weft: epoll_create1");
  wakefd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd_ < 0) {
    int err = errno;
    ::close(epfd_.exchange(-1));
    throw std::system_error(err, std::generic_category(), "weft: eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // null marks the wake-up descriptor
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) < 0)
    throw std::system_error(errno, std::generic_category(), "weft: epoll_ctl(eventfd)");
}

poller::~poller() { shut_down(); }

void poller::shut_down() noexcept {
  if (int fd = wakefd_.exchange(-1); fd >= 0) ::close(fd);
  if (int fd = epfd_.exchange(-1); fd >= 0) ::close(fd);
}

std::error_code poller::add(int fd, io_handler* h) noexcept {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = h;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) return {errno, std::generic_category()};
  registered.fetch_add(1, std::memory_order_relaxed);
  return {};
}

void poller::remove(int fd) noexcept {
  if (::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr) == 0) registered.fetch_sub(1, std::memory_order_relaxed);
}

int poller::wait(std::int64_t timeout_ns) noexcept {
  epoll_event events[512];
  int n;
  if (timeout_ns < 0) {
    n = ::epoll_wait(epfd_, events, 512, -1);
  } else {
    timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000), static_cast<long>(timeout_ns % 1'000'000'000)};
    n = ::epoll_pwait2(epfd_, events, 512, &ts, nullptr);
    if (n < 0 && errno == ENOSYS) {
      n = ::epoll_wait(epfd_, events, 512, static_cast<int>((timeout_ns + 999'999) / 1'000'000));
    }
  }
  int dispatched = 0;
  for (int i = 0; i < n; ++i) {
    if (events[i].data.ptr == nullptr) {
      std::uint64_t value;
      while (::read(wakefd_, &value, sizeof value) > 0) {
      }
      continue;
    }
    static_cast<io_handler*>(events[i].data.ptr)->on_io_ready(events[i].events);
    ++dispatched;
  }
  return dispatched;
}

void poller::wake() noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wakefd_, &one, sizeof one);
}

}  // namespace fiber::detail
