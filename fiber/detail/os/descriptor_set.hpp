// descriptor_set.hpp — a private, level-triggered set of descriptors to wait on together (poll,
// select and epoll_wait through the hooks; c-ares's sockets in resolve()). It is the platform's own
// multiplexer (an epoll instance on Linux, a kqueue on BSD/macOS) and itself a descriptor that is
// readable while any member is ready, so one registration in the worker's poller — whatever its
// backend — waits for the whole set (net/detail/readiness_set.hpp does that).
// Members may be registered in the worker's poller too: the set is a separate kernel object.
#pragma once

#include <cstdint>
#include <memory>
#include <system_error>

namespace fiber::detail {

struct ready_descriptor {
  int fd;
  std::uint32_t events;  // io_event bits
};

class descriptor_set {
 public:
  virtual ~descriptor_set() = default;
  virtual int fd() const noexcept = 0;
  // Adds fd, or changes its interest (io_readable | io_writable | io_priority). EPERM: the fd cannot
  // be waited on this way (a regular file: always ready).
  virtual std::error_code watch(int fd, std::uint32_t events) noexcept = 0;
  virtual void unwatch(int fd) noexcept = 0;
  // What is ready now, without blocking; returns how many entries of `out` it filled.
  virtual int collect(ready_descriptor* out, int max) noexcept = 0;
};

// The platform's set; null with errno set when the kernel refuses (EMFILE, ENOMEM).
std::unique_ptr<descriptor_set> make_descriptor_set() noexcept;

}  // namespace fiber::detail
