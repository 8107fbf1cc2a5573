// operation.cpp — perform(): the readiness loop for every operation kind, connect's completion
// wait, accept with its EMFILE back-off (net/detail/operation.hpp).
#include <net/detail/operation.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <fiber/detail/os/socket_ops.hpp>
#include <fiber/detail/wait_record.hpp>
#include <fiber/this_fiber.hpp>
#include <net/errors.hpp>

namespace fiber::net::detail {

namespace {

// One non-blocking try of `op` on fd: >= 0 or -1 with errno.
long attempt(int fd, const operation& op) noexcept {
  using fiber::detail::no_sigpipe_send_flag;
  switch (op.kind) {
    case op_kind::recv:
      return ::recv(fd, op.buf, op.len, op.flags);
    case op_kind::send:
      return ::send(fd, op.buf, op.len, op.flags | no_sigpipe_send_flag);
    case op_kind::recvmsg:
      return ::recvmsg(fd, op.msg, op.flags);
    case op_kind::sendmsg:
      return ::sendmsg(fd, op.msg, op.flags | no_sigpipe_send_flag);
    case op_kind::recvfrom:
      return ::recvfrom(fd, op.buf, op.len, op.flags, op.addr, op.addrlen);
    case op_kind::sendto:
      return ::sendto(fd, op.buf, op.len, op.flags | no_sigpipe_send_flag, op.peer, op.peerlen);
    case op_kind::accept:
      for (;;) {
        const int c = fiber::detail::accept_connection(fd);
        if (c < 0 && (errno == ECONNABORTED || errno == EPROTO)) continue;  // that client gave up; next
        return c;
      }
    case op_kind::custom:
      return op.attempt(fd, op.ctx);
  }
  errno = EINVAL;
  return -1;
}

// Bytes a stream read asked for (for the read hint).
std::size_t requested_bytes(const operation& op) noexcept {
  if (op.kind != op_kind::recvmsg) return op.len;
  std::size_t total = 0;
  for (std::size_t i = 0; i < static_cast<std::size_t>(op.msg->msg_iovlen); ++i) total += op.msg->msg_iov[i].iov_len;
  return total;
}

}  // namespace

long perform(poll_descriptor& pd, const operation& op, fiber::detail::clock::time_point deadline, std::error_code& ec,
             before_park_fn before_park, failure* why) noexcept {
  ec.clear();
  if (why) *why = failure::none;
  const io_kind dir = op.direction();
  // Stream reads: skip a syscall that would only say EAGAIN (the read hint, poll_descriptor.hpp).
  bool try_first = !(op.stream && pd.read_first_would_fail());
  for (;;) {
    if (!try_first) {
      try_first = true;
      if (before_park) {
        before_park(dir);
        before_park = nullptr;
      }
      if ((ec = pd.wait(dir, deadline))) {
        if (why) *why = failure::wait;
        return -1;
      }
    }
    const long r = attempt(pd.fd(), op);
    // A short read (or EAGAIN) drained the buffer; end of stream (0) and errors stay answerable at once.
    if (op.stream) pd.note_read(r > 0 ? static_cast<std::size_t>(r) < requested_bytes(op) : r < 0 && errno == EAGAIN);
    if (r >= 0) return r;
    const int e = errno;
    if (e == EINTR) continue;
    if (e != EAGAIN && e != EWOULDBLOCK) {
      ec = {e, std::generic_category()};
      if (why) *why = failure::syscall;
      return -1;
    }
    if (before_park) {
      before_park(dir);
      before_park = nullptr;
    }
    if ((ec = pd.wait(dir, deadline))) {
      if (why) *why = failure::wait;
      return -1;
    }
  }
}

long perform_on(poll_descriptor* pd, const operation& op, fiber::detail::clock::time_point deadline,
                std::error_code& ec) noexcept {
  if (!pd || !pd->begin_op()) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return -1;
  }
  const long r = perform(*pd, op, deadline, ec);
  pd->end_op();
  return ec ? -1 : r;
}

std::error_code finish_connect(poll_descriptor& pd, const ::sockaddr* addr, ::socklen_t addrlen,
                               fiber::detail::clock::time_point deadline, bool connect_again,
                               before_park_fn before_park, failure* why) noexcept {
  const int fd = pd.fd();
  if (why) *why = failure::syscall;  // unless the wait itself ends it (below)
  fiber::detail::wait_scope ws(fiber::detail::wait_kind::socket_connect, &pd, static_cast<std::uint64_t>(fd), addr,
                               deadline);  // fiber::dump(): "socket connect on fd N to <addr>"
  for (;;) {
    if (before_park) {
      before_park(io_kind::write);
      before_park = nullptr;
    }
    if (auto ec = pd.wait(io_kind::write, deadline)) {
      if (why) *why = failure::wait;
      return ec;
    }
    int err = fiber::detail::pending_socket_error(fd);
    if (err == 0) err = pd.take_reported_error();  // the backend may have consumed SO_ERROR
    if (err != 0) return errno_code(err);
    // Writable and no error means connected; a spurious wake-up leaves the socket unwritable.
    if (!fiber::detail::writable_now(fd)) continue;
    if (fiber::detail::has_peer(fd)) return {};
    if (errno != ENOTCONN) return errno_code(errno);
    // A Unix stream whose connect got EAGAIN (full backlog) must retry the connect itself.
    if (connect_again) {
      if (::connect(fd, addr, addrlen) == 0) return {};
      if (errno != EAGAIN && errno != EINPROGRESS && errno != EINTR) return errno_code(errno);
    }
  }
}

std::error_code connect_socket(poll_descriptor* pd, const ::sockaddr* addr, unsigned addrlen,
                               fiber::detail::clock::time_point deadline) noexcept {
  if (!pd || !pd->begin_op()) return std::make_error_code(std::errc::bad_file_descriptor);
  std::error_code ec;
  const auto len = static_cast<socklen_t>(addrlen);
  if (::connect(pd->fd(), addr, len) < 0) {
    if (errno == EINPROGRESS || errno == EINTR || errno == EAGAIN) {
      ec = finish_connect(*pd, addr, len, deadline, addr->sa_family == AF_UNIX);
    } else {
      ec = errno_code(errno);
    }
  }
  pd->end_op();
  return ec;
}

int accept_socket(poll_descriptor* pd, fiber::detail::clock::time_point deadline, std::error_code& ec) noexcept {
  const long r = perform_on(pd, operation{.kind = op_kind::accept}, deadline, ec);
  if (r < 0 && (ec.value() == EMFILE || ec.value() == ENFILE || ec.value() == ENOBUFS || ec.value() == ENOMEM)) {
    // Out of descriptors: the pending connection stays queued and the socket stays readable, so an
    // immediate retry would fail again at once. Pause so that a retrying accept loop cannot spin.
    try {
      fiber::this_fiber::sleep_for(std::chrono::milliseconds(10));
    } catch (...) {
    }
  }
  return static_cast<int>(r);
}

}  // namespace fiber::net::detail
