// socket_factory.hpp — socket_base::open_socket and socket_base::adopt (declared in net/socket.hpp).
//
// Owns: the step every socket type shares when it gets a new fd — a non-blocking, close-on-exec
// socket from the platform layer (os/socket_ops.hpp), then the Socket object whose constructor allocates the fd's
// poll_descriptor. Invariant: an fd never leaks — if the allocation throws, the fd is closed and
// the caller gets an empty socket with std::errc::not_enough_memory. Included by net/detail/*.cpp only.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <new>
#include <fiber/detail/os/socket_ops.hpp>
#include <net/errors.hpp>
#include <net/socket.hpp>
#include <system_error>

namespace fiber::net {

template <class Socket>
Socket socket_base::adopt(int fd, std::error_code& ec) noexcept {
  try {
    return Socket(fd, nonblocking_fd_t{});
  } catch (const std::bad_alloc&) {
    ::close(fd);
    ec = std::make_error_code(std::errc::not_enough_memory);
    return Socket();
  }
}

template <class Socket>
Socket socket_base::open_socket(int family, int type, std::error_code& ec) noexcept {
  ec.clear();
  int fd = fiber::detail::open_socket(family, type, 0);
  if (fd < 0) {
    ec = detail::errno_code(errno);
    return Socket();
  }
  return adopt<Socket>(fd, ec);
}

}  // namespace fiber::net
