// io_loop.hpp — the one loop behind every blocking socket call: try the non-blocking syscall; on
// EINTR retry; on EAGAIN wait on the poll_descriptor (readiness, deadline, stop token or close) and
// retry. Internal to net/.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <net/detail/poll_descriptor.hpp>
#include <system_error>

namespace fiber::net::detail {

// `op(fd)` returns >= 0 on success or -1 with errno set. Returns the op's result, or -1 with `ec` set.
template <class Op>
long run_io(poll_descriptor* pd, io_kind kind, fiber::detail::clock::time_point deadline, std::error_code& ec,
            Op&& op) noexcept {
  ec.clear();
  if (!pd || !pd->begin_op()) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return -1;
  }
  long r;
  for (;;) {
    r = static_cast<long>(op(pd->fd()));
    if (r >= 0) break;
    int e = errno;
    if (e == EINTR) continue;
    if (e == EAGAIN || e == EWOULDBLOCK) {
      if ((ec = pd->wait(kind, deadline))) break;
      continue;
    }
    ec = {e, std::generic_category()};
    break;
  }
  pd->end_op();
  return ec ? -1 : r;
}

}  // namespace fiber::net::detail

namespace fiber::net::detail {
// Non-blocking connect of pd's socket with a deadline: {} once connected, else the error
// (connection_refused, timed_out, operation_canceled, ...).
std::error_code connect_socket(poll_descriptor* pd, const ::sockaddr* addr, unsigned addrlen,
                               fiber::detail::clock::time_point deadline) noexcept;
// accept (non-blocking, close-on-exec: os/socket_ops.hpp) with the EMFILE back-off; returns the new fd or -1 with ec.
int accept_socket(poll_descriptor* pd, fiber::detail::clock::time_point deadline, std::error_code& ec) noexcept;
}  // namespace fiber::net::detail
