// poller_epoll.cpp — the Linux epoll backend of os/poller.hpp: one epoll instance per worker,
// descriptors edge-triggered for read and write (EPOLLET; EPOLL_CTL_ADD reports existing
// readiness), an eventfd for wake-ups, epoll_pwait2 for nanosecond timer bounds.
#include <fiber/detail/os/poller.hpp>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <memory>
#include <system_error>

namespace fiber::detail {

namespace {

constexpr int max_events = 512;

std::uint32_t from_epoll(std::uint32_t e) noexcept {
  std::uint32_t bits = 0;
  if (e & EPOLLIN) bits |= io_readable;
  if (e & EPOLLOUT) bits |= io_writable;
  if (e & EPOLLERR) bits |= io_error;
  if (e & EPOLLHUP) bits |= io_hangup;
  if (e & EPOLLRDHUP) bits |= io_read_hangup;
  return bits;
}

class epoll_poller final : public poller {
 public:
  epoll_poller() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "weft: epoll_create1");
    wakefd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakefd_ < 0) {
      const int err = errno;
      ::close(epfd_.exchange(-1));
      throw std::system_error(err, std::generic_category(), "weft: eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // null marks the wake-up descriptor
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) < 0) {
      const int err = errno;
      shut_down();
      throw std::system_error(err, std::generic_category(), "weft: epoll_ctl(eventfd)");
    }
  }
  ~epoll_poller() override { shut_down(); }

  fiber::io_backend backend() const noexcept override { return fiber::io_backend::epoll; }

  std::error_code add(int fd, io_handler* h) noexcept override {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = h;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) return {errno, std::generic_category()};
    registered.fetch_add(1, std::memory_order_relaxed);
    return {};
  }

  void remove(int fd) noexcept override {
    if (::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr) == 0) registered.fetch_sub(1, std::memory_order_relaxed);
  }

  int wait(std::int64_t timeout_ns) noexcept override {
    epoll_event events[max_events];
    int n;
    if (timeout_ns < 0) {
      n = ::epoll_wait(epfd_, events, max_events, -1);
    } else {
      timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000), static_cast<long>(timeout_ns % 1'000'000'000)};
      n = ::epoll_pwait2(epfd_, events, max_events, &ts, nullptr);
      if (n < 0 && errno == ENOSYS)  // kernels before 5.11: millisecond resolution, rounded up
        n = ::epoll_wait(epfd_, events, max_events, static_cast<int>((timeout_ns + 999'999) / 1'000'000));
    }
    int dispatched = 0;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        std::uint64_t value;
        while (::read(wakefd_, &value, sizeof value) > 0) {
        }
        continue;
      }
      static_cast<io_handler*>(events[i].data.ptr)->on_io_ready(from_epoll(events[i].events), 0);
      ++dispatched;
    }
    return dispatched;
  }

  void wake() noexcept override {
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wakefd_, &one, sizeof one);
  }

  void shut_down() noexcept override {
    if (int fd = wakefd_.exchange(-1); fd >= 0) ::close(fd);
    if (int fd = epfd_.exchange(-1); fd >= 0) ::close(fd);
  }
  // Closing the child's copies leaves the parent's epoll instance and its registrations alone.
  void abandon_after_fork() noexcept override { shut_down(); }

 private:
  std::atomic<int> epfd_{-1};
  std::atomic<int> wakefd_{-1};
};

}  // namespace

std::unique_ptr<poller> make_epoll_poller() {
  return std::make_unique<epoll_poller>();
}

}  // namespace fiber::detail
