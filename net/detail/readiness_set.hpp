// readiness_set.hpp — wait for any of several descriptors, with a deadline: the one type behind
// resolve()'s c-ares sockets and the hooks' poll/select/epoll_wait.
//
//   readiness_set rs;                       // usable() false if the kernel refused (EMFILE, ENOMEM)
//   rs.watch(fd, io_readable);              // level-triggered interest, added or changed
//   for (;;) { if (n = rs.collect(ready, 16)) handle(ready, n); else if (auto ec = rs.wait(deadline)) break; }
//
// Owns: a private descriptor set of the platform (os/descriptor_set.hpp: epoll on Linux, kqueue on
// BSD/macOS), whose own descriptor is registered in the calling worker's poller through a
// poll_descriptor — so a fiber parks until any member is ready, the deadline passes, its stop token
// fires or the set is closed; a plain OS thread blocks in poll() on it. Any worker backend works:
// the set is an ordinary readable descriptor to it.
// wait() returns {} when something may be ready (collect, or re-check with the caller's own
// zero-timeout syscall), timed_out, operation_canceled (stop request) or bad_file_descriptor.
// Invariant: before parking, wait() drains nothing and trusts no stale edge — it asks the set
// itself (a zero-timeout collect) whether a member is ready, and only parks when none is; a
// member's next readiness then raises a fresh edge on the set's descriptor.
#pragma once

#include <fiber/detail/deadline.hpp>
#include <fiber/detail/os/descriptor_set.hpp>
#include <fiber/detail/os/poller.hpp>

#include <memory>
#include <system_error>

namespace fiber::net::detail {

class poll_descriptor;

class readiness_set {
 public:
  readiness_set() noexcept;
  ~readiness_set();
  readiness_set(const readiness_set&) = delete;
  readiness_set& operator=(const readiness_set&) = delete;

  bool usable() const noexcept { return pd_ != nullptr; }
  std::error_code watch(int fd, std::uint32_t events) noexcept { return set_->watch(fd, events); }
  void unwatch(int fd) noexcept { set_->unwatch(fd); }
  int collect(fiber::detail::ready_descriptor* out, int max) noexcept { return set_->collect(out, max); }

  // Parks (fiber) or blocks (thread) until a member may be ready; see the header comment.
  std::error_code wait(fiber::detail::clock::time_point deadline) noexcept;

 private:
  std::unique_ptr<fiber::detail::descriptor_set> set_;
  poll_descriptor* pd_ = nullptr;  // registers set_->fd() (not owned: set_ closes it)
};

}  // namespace fiber::net::detail
