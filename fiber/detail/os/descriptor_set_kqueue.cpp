// descriptor_set_kqueue.cpp — os/descriptor_set.hpp on BSD and macOS: a private kqueue with
// level-triggered EVFILT_READ/EVFILT_WRITE filters; a kqueue descriptor is itself readable while
// events are pending, so it can be waited on from the worker's poller. (libkqueue on Linux cannot
// nest a kqueue that way, which is why Linux builds use the epoll set with every backend.)
#include <fiber/detail/os/descriptor_set.hpp>
#include <fiber/detail/os/poller.hpp>

#include <sys/event.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <new>

namespace fiber::detail {

namespace {

class kqueue_set final : public descriptor_set {
 public:
  explicit kqueue_set(int kq) noexcept : kq_(kq) {}
  ~kqueue_set() override { ::close(kq_); }
  int fd() const noexcept override { return kq_; }

  std::error_code watch(int fd, std::uint32_t events) noexcept override {
    struct kevent ch[2];
    const auto id = static_cast<std::uintptr_t>(fd);
    EV_SET(&ch[0], id, EVFILT_READ, (events & (io_readable | io_priority)) ? EV_ADD : EV_DELETE, 0, 0, 0);
    EV_SET(&ch[1], id, EVFILT_WRITE, (events & io_writable) ? EV_ADD : EV_DELETE, 0, 0, 0);
    for (auto& c : ch) {
      if (::kevent(kq_, &c, 1, nullptr, 0, nullptr) == 0) continue;
      if ((c.flags & EV_DELETE) && errno == ENOENT) continue;  // was not watched in that direction
      return {errno == EINVAL ? EPERM : errno, std::generic_category()};
    }
    return {};
  }

  void unwatch(int fd) noexcept override {
    struct kevent ch[2];
    EV_SET(&ch[0], static_cast<std::uintptr_t>(fd), EVFILT_READ, EV_DELETE, 0, 0, 0);
    EV_SET(&ch[1], static_cast<std::uintptr_t>(fd), EVFILT_WRITE, EV_DELETE, 0, 0, 0);
    (void)::kevent(kq_, &ch[0], 1, nullptr, 0, 0);
    (void)::kevent(kq_, &ch[1], 1, nullptr, 0, 0);
  }

  int collect(ready_descriptor* out, int max) noexcept override {
    struct kevent evs[64];
    const timespec zero{0, 0};
    const int n = ::kevent(kq_, nullptr, 0, evs, max < 64 ? max : 64, &zero);
    for (int i = 0; i < n; ++i) {
      std::uint32_t bits = evs[i].filter == EVFILT_WRITE ? io_writable : io_readable;
      if (evs[i].flags & EV_EOF) bits |= evs[i].filter == EVFILT_WRITE ? io_hangup : io_read_hangup;
      if (evs[i].flags & EV_ERROR) bits = io_error;
      out[i] = {static_cast<int>(evs[i].ident), bits};
    }
    return n < 0 ? 0 : n;
  }

 private:
  int kq_;
};

}  // namespace

std::unique_ptr<descriptor_set> make_kqueue_descriptor_set() noexcept {
  const int kq = ::kqueue();
  if (kq < 0) return nullptr;
  auto* set = new (std::nothrow) kqueue_set(kq);
  if (!set) {
    ::close(kq);
    errno = ENOMEM;
  }
  return std::unique_ptr<descriptor_set>(set);
}

#if !defined(__linux__)
std::unique_ptr<descriptor_set> make_descriptor_set() noexcept {
  return make_kqueue_descriptor_set();
}
#endif

}  // namespace fiber::detail
