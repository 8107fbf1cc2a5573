// poller.hpp — the one place a worker sleeps: I/O readiness, its next timer and cross-thread
// wake-ups all end the same wait (epoll_wait on Linux; a kqueue backend would implement this same
// class). net/ registers sockets here; fiber/ only uses wait() and wake().
//
// Wake protocol (DESIGN.md pitfall 2): a worker about to sleep sets `sleeping` and re-checks its
// queues; a thread that queued work for it checks `sleeping` after queueing (both seq_cst), and
// only then pays for the eventfd write. Either the sleeper sees the work or the waker sees the flag.
#pragma once

#include <atomic>
#include <cstdint>
#include <system_error>

namespace fiber::detail {

// Receives readiness events for one registered descriptor (called on the poller's worker thread).
struct io_handler {
  virtual void on_io_ready(std::uint32_t events) noexcept = 0;

 protected:
  ~io_handler() = default;
};

// Portable readiness bits passed to io_handler (same values as EPOLLIN/OUT/ERR/HUP/RDHUP).
enum io_event : std::uint32_t {
  io_readable = 0x001,
  io_writable = 0x004,
  io_error = 0x008,
  io_hangup = 0x010,
  io_read_hangup = 0x2000,
};

class poller {
 public:
  poller();
  ~poller();
  poller(const poller&) = delete;
  poller& operator=(const poller&) = delete;

  // Registers `fd` edge-triggered for read and write readiness; events go to `h` until remove().
  std::error_code add(int fd, io_handler* h) noexcept;
  void remove(int fd) noexcept;

  // Waits at most `timeout_ns` (-1: forever, 0: just poll) and dispatches what is ready.
  // Returns the number of descriptor events dispatched (wake-ups not counted).
  int wait(std::int64_t timeout_ns) noexcept;

  // Any thread: ends a wait() in progress or the next one.
  void wake() noexcept;

  // Closes the epoll and wake-up descriptors (their registrations vanish with them); later add()
  // fails with EBADF and remove() is a no-op. For pollers of a destroyed runtime.
  void shut_down() noexcept;

  std::atomic<bool> sleeping{false};
  std::atomic<int> registered{0};  // descriptors registered, to skip polling when there are none

 private:
  std::atomic<int> epfd_{-1};
  std::atomic<int> wakefd_{-1};
};

}  // namespace fiber::detail
