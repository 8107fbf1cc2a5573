// operation.hpp — the one operation loop behind every blocking socket call in weft (net's sockets
// and the hook library's interposed calls alike).
//
//   operation op{.kind = op_kind::recv, .buf = p, .len = n};
//   long r = perform(*pd, op, deadline, ec);                 // >= 0, or -1 with ec
//
// An operation is *described* (kind + arguments), not coded as a lambda, so that a completion
// backend (io_uring) can run the whole operation itself — submit, park, reap — while a readiness
// backend (epoll, kqueue) runs it as "try the non-blocking syscall; on EAGAIN wait for readiness on
// the poll_descriptor; retry". Either way the caller sees the same results: the syscall's value,
// or std::errc::timed_out at the deadline, operation_canceled on the calling fiber's stop request,
// bad_file_descriptor when the descriptor is closed (also by another fiber), errno otherwise.
// EINTR is retried. Operations the backends do not know (sendfile, sendmmsg, recvmmsg: the hooks)
// use op_kind::custom with their own attempt function and always run the readiness loop.
// All of this happens between pd.begin_op() and pd.end_op(), which the caller brackets.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <fiber/detail/deadline.hpp>
#include <net/detail/poll_descriptor.hpp>
#include <system_error>

namespace fiber::net::detail {

enum class op_kind : std::uint8_t {
  recv,      // recv(fd, buf, len, flags)
  send,      // send(fd, buf, len, flags | no SIGPIPE)
  recvmsg,   // recvmsg(fd, msg, flags)
  sendmsg,   // sendmsg(fd, msg, flags | no SIGPIPE)
  recvfrom,  // recvfrom(fd, buf, len, flags, addr, addrlen)
  sendto,    // sendto(fd, buf, len, flags | no SIGPIPE, peer, peerlen)
  accept,    // a new non-blocking, close-on-exec connection (os/socket_ops.hpp); ECONNABORTED skipped
  custom,    // attempt(fd, ctx)
};

struct operation {
  op_kind kind = op_kind::custom;
  void* buf = nullptr;
  std::size_t len = 0;
  int flags = 0;
  ::msghdr* msg = nullptr;
  ::sockaddr* addr = nullptr;  // recvfrom: where the sender's address goes
  ::socklen_t* addrlen = nullptr;
  const ::sockaddr* peer = nullptr;  // sendto: the destination
  ::socklen_t peerlen = 0;
  long (*attempt)(int fd, void* ctx) noexcept = nullptr;  // custom: one non-blocking try (>= 0 or -1/errno)
  void* ctx = nullptr;
  io_kind custom_direction = io_kind::read;  // custom: the readiness it waits for
  // recv/recvmsg on a stream socket: a short read means the buffer is empty (the read hint of
  // poll_descriptor.hpp); never for datagrams, where a short read says nothing about the next one.
  bool stream = false;
  io_kind direction() const noexcept {
    switch (kind) {
      case op_kind::custom:
        return custom_direction;
      case op_kind::send:
      case op_kind::sendmsg:
      case op_kind::sendto:
        return io_kind::write;
      default:
        return io_kind::read;
    }
  }
};

// Called once, right before the first park of an operation (the hook library's lock detector).
using before_park_fn = void (*)(io_kind) noexcept;

// Where a failure came from: the operation's own system call (errno), or the wait for readiness
// (timed_out, operation_canceled, bad_file_descriptor) — callers that report errno need the difference.
enum class failure : std::uint8_t { none, syscall, wait };

long perform(poll_descriptor& pd, const operation& op, fiber::detail::clock::time_point deadline, std::error_code& ec,
             before_park_fn before_park = nullptr, failure* why = nullptr) noexcept;

// Brackets the descriptor and performs: bad_file_descriptor if it is closed or null.
long perform_on(poll_descriptor* pd, const operation& op, fiber::detail::clock::time_point deadline,
                std::error_code& ec) noexcept;

// A connect(2) in progress (EINPROGRESS, or EAGAIN on a Unix socket whose listener's backlog is
// full): waits until it completes. {} once connected, else connection_refused, timed_out,
// operation_canceled, bad_file_descriptor, ... `connect_again` retries the call on Unix sockets.
std::error_code finish_connect(poll_descriptor& pd, const ::sockaddr* addr, ::socklen_t addrlen,
                               fiber::detail::clock::time_point deadline, bool connect_again,
                               before_park_fn before_park = nullptr, failure* why = nullptr) noexcept;

// connect(2) of pd's socket with a deadline: {} once connected, else the error.
std::error_code connect_socket(poll_descriptor* pd, const ::sockaddr* addr, unsigned addrlen,
                               fiber::detail::clock::time_point deadline) noexcept;
// accept with the EMFILE back-off; returns the new fd or -1 with ec.
int accept_socket(poll_descriptor* pd, fiber::detail::clock::time_point deadline, std::error_code& ec) noexcept;

}  // namespace fiber::net::detail
