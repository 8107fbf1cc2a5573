// poller_kqueue.cpp — the kqueue backend of os/poller.hpp (BSD, macOS; on Linux, libkqueue): per
// worker one kqueue, each descriptor registered as EVFILT_READ + EVFILT_WRITE with EV_CLEAR
// (edge-triggered; a filter added to a ready descriptor fires at once), wake-ups through an
// EVFILT_USER event triggered with NOTE_TRIGGER, the next timer as the kevent() timeout.
#include <fiber/detail/os/poller.hpp>

#include <sys/event.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <memory>
#include <system_error>

namespace fiber::detail {

namespace {

constexpr int max_events = 512;
constexpr std::uintptr_t wake_ident = 0;

// kevent's udata is void* on most systems and intptr_t on NetBSD: convert through uintptr_t.
template <class T>
T as_udata(io_handler* h) noexcept {
  if constexpr (std::is_pointer_v<T>) {
    return static_cast<T>(static_cast<void*>(h));
  } else {
    return static_cast<T>(reinterpret_cast<std::uintptr_t>(h));
  }
}
template <class T>
io_handler* from_udata(T u) noexcept {
  if constexpr (std::is_pointer_v<T>) {
    return static_cast<io_handler*>(static_cast<void*>(u));
  } else {
    return reinterpret_cast<io_handler*>(static_cast<std::uintptr_t>(u));
  }
}
using udata_t = decltype(std::declval<struct kevent>().udata);

class kqueue_poller final : public poller {
 public:
  kqueue_poller() {
    kq_ = ::kqueue();
    if (kq_ < 0) throw std::system_error(errno, std::generic_category(), "weft: kqueue");
    struct kevent ev;
    EV_SET(&ev, wake_ident, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, udata_t{});
    if (::kevent(kq_, &ev, 1, nullptr, 0, nullptr) < 0) {
      const int err = errno;
      shut_down();
      throw std::system_error(err, std::generic_category(), "weft: kevent(EVFILT_USER)");
    }
  }
  ~kqueue_poller() override { shut_down(); }

  fiber::io_backend backend() const noexcept override { return fiber::io_backend::kqueue; }

  std::error_code add(int fd, io_handler* h) noexcept override {
    struct kevent ev[2];
    EV_SET(&ev[0], static_cast<std::uintptr_t>(fd), EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, as_udata<udata_t>(h));
    EV_SET(&ev[1], static_cast<std::uintptr_t>(fd), EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, as_udata<udata_t>(h));
    if (::kevent(kq_, ev, 2, nullptr, 0, nullptr) < 0) {
      const int err = errno;
      remove_filters(fd);  // the read filter may have been added
      return {err, std::generic_category()};
    }
    registered.fetch_add(1, std::memory_order_relaxed);
    return {};
  }

  void remove(int fd) noexcept override {
    if (remove_filters(fd)) registered.fetch_sub(1, std::memory_order_relaxed);
  }

  int wait(std::int64_t timeout_ns) noexcept override {
    struct kevent events[max_events];
    timespec ts{};
    timespec* limit = nullptr;
    if (timeout_ns >= 0) {
      ts = timespec{static_cast<time_t>(timeout_ns / 1'000'000'000), static_cast<long>(timeout_ns % 1'000'000'000)};
      limit = &ts;
    }
    const int n = ::kevent(kq_, nullptr, 0, events, max_events, limit);
    int dispatched = 0;
    for (int i = 0; i < n; ++i) {
      const struct kevent& e = events[i];
      if (e.filter == EVFILT_USER) continue;  // a wake-up: it only had to end the wait
      io_handler* h = from_udata(e.udata);
      if (!h) continue;
      std::uint32_t bits = 0;
      int error = 0;
      if (e.flags & EV_ERROR) {
        bits = io_error;
      } else if (e.filter == EVFILT_READ) {
        bits = io_readable;
        if (e.flags & EV_EOF) bits |= io_read_hangup;
      } else if (e.filter == EVFILT_WRITE) {
        bits = io_writable;
        if (e.flags & EV_EOF) bits |= io_hangup;  // the write side is gone: report it to both sides
      }
      if (e.fflags != 0 && (e.flags & EV_EOF)) {  // fflags holds the socket error
        bits |= io_error;
        error = static_cast<int>(e.fflags);
      }
      h->on_io_ready(bits, error);
      ++dispatched;
    }
    return dispatched;
  }

  void wake() noexcept override {
    struct kevent ev;
    EV_SET(&ev, wake_ident, EVFILT_USER, 0, NOTE_TRIGGER, 0, udata_t{});
    (void)::kevent(kq_.load(std::memory_order_relaxed), &ev, 1, nullptr, 0, nullptr);
  }

  void shut_down() noexcept override {
    if (int fd = kq_.exchange(-1); fd >= 0) ::close(fd);
  }
  // A child does not inherit kqueues (BSD); libkqueue frees its own in its fork handler. Closing the
  // number here could close whatever took it since, so it is only forgotten.
  void abandon_after_fork() noexcept override { kq_.store(-1); }

 private:
  bool remove_filters(int fd) noexcept {
    struct kevent ev[2];
    EV_SET(&ev[0], static_cast<std::uintptr_t>(fd), EVFILT_READ, EV_DELETE, 0, 0, udata_t{});
    EV_SET(&ev[1], static_cast<std::uintptr_t>(fd), EVFILT_WRITE, EV_DELETE, 0, 0, udata_t{});
    // One call per filter: kevent() stops at the first failing change when no event list is given.
    const bool read_removed = ::kevent(kq_, &ev[0], 1, nullptr, 0, nullptr) == 0;
    const bool write_removed = ::kevent(kq_, &ev[1], 1, nullptr, 0, nullptr) == 0;
    return read_removed || write_removed;
  }

  std::atomic<int> kq_{-1};
};

}  // namespace

std::unique_ptr<poller> make_kqueue_poller() {
  return std::make_unique<kqueue_poller>();
}

}  // namespace fiber::detail
