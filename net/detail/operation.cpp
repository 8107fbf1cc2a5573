// operation.cpp — perform(): the readiness loop for every operation kind, connect's completion
// wait, accept with its EMFILE back-off (net/detail/operation.hpp).
#include <net/detail/operation.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <fiber/detail/completion_wait.hpp>
#include <fiber/detail/os/socket_ops.hpp>
#include <fiber/detail/wait_record.hpp>
#include <fiber/this_fiber.hpp>
#include <net/errors.hpp>

namespace fiber::net::detail {

namespace {

// One non-blocking try of `op` on fd: >= 0 or -1 with errno.
long attempt(int fd, const operation& op) noexcept {
  namespace os = fiber::detail;
  switch (op.kind) {
    case op_kind::recv:
      return os::socket_recv(fd, op.buf, op.len, op.flags);
    case op_kind::send:
      return os::socket_send(fd, op.buf, op.len, op.flags);
    case op_kind::recvmsg:
      return os::socket_recvmsg(fd, op.msg, op.flags);
    case op_kind::sendmsg:
      return os::socket_sendmsg(fd, op.msg, op.flags);
    case op_kind::recvfrom:
      return os::socket_recvfrom(fd, op.buf, op.len, op.flags, op.addr, op.addrlen);
    case op_kind::sendto:
      return os::socket_sendto(fd, op.buf, op.len, op.flags, op.peer, op.peerlen);
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

// ---- completion mode (a backend that runs whole operations: io_uring; os/completion.hpp)

using fiber::detail::completion_end;
using fiber::detail::io_op;
using fiber::detail::io_request;

io_op completion_kind(op_kind k) noexcept {
  switch (k) {
    case op_kind::recv:
      return io_op::recv;
    case op_kind::send:
      return io_op::send;
    case op_kind::recvmsg:
    case op_kind::recvfrom:
      return io_op::recvmsg;
    case op_kind::sendmsg:
    case op_kind::sendto:
      return io_op::sendmsg;
    case op_kind::accept:
      return io_op::accept;
    case op_kind::custom:
      break;
  }
  return io_op::count_;
}

// A close() of the descriptor ends the wait (and cancels the operation): the fiber is one of the
// slot's waiters while it is parked.
class close_watch final : public fiber::detail::completion_watch {
 public:
  close_watch(poll_descriptor& pd, io_kind kind) noexcept : pd_(pd), kind_(kind) {}
  bool over() const noexcept override { return pd_.is_closed(); }
  bool publish(fiber::detail::park_token t) noexcept override {
    w_.token = t;
    return pd_.link_waiter(kind_, w_);
  }
  void withdraw() noexcept override { pd_.unlink_waiter(kind_, w_); }

 private:
  poll_descriptor& pd_;
  io_kind kind_;
  fiber::detail::waiter w_;
};

std::error_code wait_error(completion_end end) noexcept {
  switch (end) {
    case completion_end::timed_out:
      return std::make_error_code(std::errc::timed_out);
    case completion_end::stopped:
      return std::make_error_code(std::errc::operation_canceled);
    default:
      return std::make_error_code(std::errc::bad_file_descriptor);
  }
}

constexpr std::size_t max_transfer = 0x7ffff000;  // Linux's cap on one read/write

// Runs `op` as one completion: true with `out` set when it ran (also on failure), false when the
// engine could not take it or the kernel asks for the readiness loop (EAGAIN).
bool perform_completion(poll_descriptor& pd, const operation& op, fiber::detail::completion_engine& engine,
                        fiber::detail::clock::time_point deadline, std::error_code& ec, before_park_fn before_park,
                        failure* why, long& out) noexcept {
  const io_op kind = completion_kind(op.kind);
  if (engine.mode(kind) == fiber::detail::op_mode::hybrid) {
    for (;;) {  // the syscall first: on EAGAIN the kernel finishes it for us
      const long r = attempt(pd.fd(), op);
      if (r >= 0) {
        out = r;
        return true;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      ec = {errno, std::generic_category()};
      if (why) *why = failure::syscall;
      out = -1;
      return true;
    }
  }
  using fiber::detail::no_sigpipe_send_flag;
  io_request req{.op = kind, .fd = pd.fd()};
  ::iovec iov{op.buf, std::min(op.len, max_transfer)};
  ::msghdr mh{};
  switch (op.kind) {
    case op_kind::recv:
    case op_kind::send:
      req.buf = op.buf;
      req.len = static_cast<std::uint32_t>(iov.iov_len);
      req.flags = op.flags | (op.kind == op_kind::send ? no_sigpipe_send_flag : 0);
      break;
    case op_kind::recvmsg:
    case op_kind::sendmsg:
      req.buf = op.msg;
      req.flags = op.flags | (op.kind == op_kind::sendmsg ? no_sigpipe_send_flag : 0);
      break;
    case op_kind::recvfrom:
      mh.msg_name = op.addr;
      mh.msg_namelen = op.addrlen ? *op.addrlen : 0;
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      req.buf = &mh;
      req.flags = op.flags;
      break;
    case op_kind::sendto:
      mh.msg_name = const_cast<::sockaddr*>(op.peer);
      mh.msg_namelen = op.peerlen;
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      req.buf = &mh;
      req.flags = op.flags | no_sigpipe_send_flag;
      break;
    case op_kind::accept:
      req.flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
      break;
    case op_kind::custom:
      return false;
  }
  if (before_park) before_park(op.direction());
  close_watch watch(pd, op.direction());
  fiber::detail::wait_scope ws(
      op.direction() == io_kind::read ? fiber::detail::wait_kind::socket_read : fiber::detail::wait_kind::socket_write,
      &pd, static_cast<std::uint64_t>(pd.fd()), nullptr, deadline);  // fiber::dump()
  for (;;) {
    completion_end end;
    bool submitted = false;
    const int res = fiber::detail::await_completion(engine, req, deadline, true, &watch, end, &submitted);
    if (!submitted) return false;
    if (res >= 0) {
      if (op.kind == op_kind::recvfrom && op.addrlen) *op.addrlen = mh.msg_namelen;
      out = res;
      return true;
    }
    if (end != completion_end::completed) {
      ec = wait_error(end);
      if (why) *why = failure::wait;
      out = -1;
      return true;
    }
    if (res == -EINTR) continue;
    if (op.kind == op_kind::accept && (res == -ECONNABORTED || res == -EPROTO)) continue;  // that client gave up
    if (res == -EAGAIN) return false;
    ec = {-res, std::generic_category()};
    if (why) *why = failure::syscall;
    out = -1;
    return true;
  }
}

}  // namespace

long perform(poll_descriptor& pd, const operation& op, fiber::detail::clock::time_point deadline, std::error_code& ec,
             before_park_fn before_park, failure* why) noexcept {
  ec.clear();
  if (why) *why = failure::none;
  if (op.kind != op_kind::custom && !(op.flags & MSG_DONTWAIT)) {
    if (auto* engine = fiber::detail::completion_engine_for(completion_kind(op.kind))) {
      long out = -1;
      if (perform_completion(pd, op, *engine, deadline, ec, before_park, why, out)) return out;
    }
  }
  const io_kind dir = op.direction();
  // Stream reads: skip a syscall that would only say EAGAIN (the read hint, poll_descriptor.hpp).
  // `seen` is the edge count the hint is judged against and the wait then uses: an edge between the
  // two ends the wait instead of being lost.
  std::uint32_t seen = pd.edges(dir);
  bool try_first = !(op.stream && pd.read_first_would_fail(seen));
  for (;;) {
    if (try_first) {
      // Read before the syscall: only an edge after it can mean the EAGAIN below is stale.
      seen = pd.edges(dir);
      const long r = attempt(pd.fd(), op);
      const int e = r < 0 ? errno : 0;
      // EAGAIN or a short read drained the buffer; end of stream (0) and errors stay answerable at once.
      if (op.stream)
        pd.note_read(r < 0 && e == EAGAIN, r > 0 && static_cast<std::size_t>(r) < requested_bytes(op), seen);
      if (r >= 0) return r;
      if (e == EINTR) continue;
      if (e != EAGAIN && e != EWOULDBLOCK) {
        ec = {e, std::generic_category()};
        if (why) *why = failure::syscall;
        return -1;
      }
    }
    try_first = true;  // after a wait, the syscall decides
    if (before_park) {
      before_park(dir);
      before_park = nullptr;
    }
    if ((ec = pd.wait(dir, deadline, &seen))) {
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
  if (auto* engine = fiber::detail::completion_engine_for(io_op::connect)) {
    close_watch watch(*pd, io_kind::write);
    fiber::detail::wait_scope ws(fiber::detail::wait_kind::socket_connect, pd, static_cast<std::uint64_t>(pd->fd()),
                                 addr,
                                 deadline);  // fiber::dump()
    completion_end end;
    bool submitted = false;
    const int res = fiber::detail::await_completion(
        *engine, {.op = io_op::connect, .fd = pd->fd(), .buf = const_cast<::sockaddr*>(addr), .len = len}, deadline,
        true, &watch, end, &submitted);
    // EAGAIN (a Unix listener's full backlog) or EINTR from the ring: the readiness path below retries.
    const bool retry = end == completion_end::completed && (res == -EAGAIN || res == -EINTR);
    if (submitted && !retry) {
      if (res < 0) ec = end != completion_end::completed ? wait_error(end) : errno_code(-res);
      pd->end_op();
      return ec;
    }
  }
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
