// descriptor_set_epoll.cpp — os/descriptor_set.hpp on Linux: a private epoll instance,
// level-triggered, whose own fd is readable while a member is ready.
#include <fiber/detail/os/descriptor_set.hpp>
#include <fiber/detail/os/poller.hpp>

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <new>

namespace fiber::detail {

namespace {

std::uint32_t to_epoll(std::uint32_t bits) noexcept {
  std::uint32_t e = 0;
  if (bits & io_readable) e |= EPOLLIN | EPOLLRDHUP;
  if (bits & io_writable) e |= EPOLLOUT;
  if (bits & io_priority) e |= EPOLLPRI;
  return e;
}

std::uint32_t from_epoll(std::uint32_t e) noexcept {
  std::uint32_t bits = 0;
  if (e & EPOLLIN) bits |= io_readable;
  if (e & EPOLLOUT) bits |= io_writable;
  if (e & EPOLLPRI) bits |= io_priority;
  if (e & EPOLLERR) bits |= io_error;
  if (e & EPOLLHUP) bits |= io_hangup;
  if (e & EPOLLRDHUP) bits |= io_read_hangup;
  return bits;
}

class epoll_set final : public descriptor_set {
 public:
  explicit epoll_set(int epfd) noexcept : epfd_(epfd) {}
  ~epoll_set() override { ::close(epfd_); }
  int fd() const noexcept override { return epfd_; }

  std::error_code watch(int fd, std::uint32_t events) noexcept override {
    epoll_event ev{};
    ev.events = to_epoll(events);
    ev.data.fd = fd;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0) return {};
    if (errno == EEXIST && ::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0) return {};
    return {errno, std::generic_category()};
  }

  void unwatch(int fd) noexcept override { ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

  int collect(ready_descriptor* out, int max) noexcept override {
    epoll_event evs[64];
    const int n = ::epoll_wait(epfd_, evs, max < 64 ? max : 64, 0);
    for (int i = 0; i < n; ++i) out[i] = {evs[i].data.fd, from_epoll(evs[i].events)};
    return n < 0 ? 0 : n;
  }

 private:
  int epfd_;
};

}  // namespace

std::unique_ptr<descriptor_set> make_descriptor_set() noexcept {
  const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return nullptr;
  auto* set = new (std::nothrow) epoll_set(epfd);
  if (!set) {
    ::close(epfd);
    errno = ENOMEM;
  }
  return std::unique_ptr<descriptor_set>(set);
}

}  // namespace fiber::detail
