// socket.hpp — what every fiber::net socket shares: ownership of one non-blocking fd (through a
// poll_descriptor), close(), and the byte-stream calls of TCP and Unix-domain streams.
//
// Ownership: sockets are move-only; the destructor closes. close() is idempotent, may be called from
// any fiber or thread, and wakes every fiber parked on the socket: their calls fail with
// std::errc::bad_file_descriptor. Using one socket from two fibers at once is allowed for one reader
// plus one writer (each direction has its own waiter slot); two concurrent readers (or writers) work
// too — every waiter of a direction wakes on readiness and retries — but which one gets the bytes
// is unspecified.
//
// Blocking calls take an optional net::deadline (a duration or a steady_clock time point, see
// net/deadline.hpp) and come in a throwing and an std::error_code& form (net/errors.hpp). On a fiber
// they park only the fiber; on a plain OS thread they block the thread. A stop request on the calling
// fiber's stop token ends them with std::errc::operation_canceled. EINTR is retried internally.
#pragma once

#include <cstddef>
#include <net/buffer.hpp>
#include <net/deadline.hpp>
#include <net/endpoint.hpp>
#include <net/errors.hpp>
#include <span>
#include <system_error>
#include <utility>

namespace fiber::net {

namespace detail {
class poll_descriptor;
}

class socket_base {
 public:
  socket_base() noexcept = default;
  socket_base(socket_base&& o) noexcept : pd_(std::exchange(o.pd_, nullptr)) {}
  socket_base& operator=(socket_base&& o) noexcept;
  socket_base(const socket_base&) = delete;
  socket_base& operator=(const socket_base&) = delete;
  ~socket_base();

  // Adopts an fd (made non-blocking and close-on-exec here). Throws std::system_error on failure.
  explicit socket_base(int fd);

  bool is_open() const noexcept;
  explicit operator bool() const noexcept { return is_open(); }
  // The fd, or -1. Remains owned by the socket; do not close it yourself.
  int native_handle() const noexcept;
  // Wakes parked callers (bad_file_descriptor) and closes the fd. Idempotent, any fiber or thread.
  void close() noexcept;

  // SOL_SOCKET/other options by value (std::error_code and throwing forms).
  void set_option(int level, int name, int value, std::error_code& ec) noexcept;
  void set_option(int level, int name, int value);
  int get_option(int level, int name, std::error_code& ec) const noexcept;
  int get_option(int level, int name) const;

 protected:
  detail::poll_descriptor* pd() const noexcept { return pd_; }
  // Adopts an fd already opened with SOCK_NONBLOCK | SOCK_CLOEXEC (no extra syscalls).
  struct nonblocking_fd_t {};
  socket_base(int fd, nonblocking_fd_t);
  // getsockname / getpeername of this socket as an IP endpoint.
  endpoint ip_name(bool peer, std::error_code& ec) const noexcept;
  // The one way this layer turns new fds into sockets (defined in net/detail/socket_factory.hpp;
  // each Socket befriends socket_base for its (fd, nonblocking_fd_t) constructor):
  // open_socket: socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC; adopt: an fd just obtained that way
  // (accept4). On failure the result is empty and ec says why (errno's code, or not_enough_memory
  // when the poll_descriptor cannot be allocated — the fd is closed then).
  template <class Socket>
  static Socket open_socket(int family, int type, std::error_code& ec) noexcept;
  template <class Socket>
  static Socket adopt(int fd, std::error_code& ec) noexcept;

 private:
  detail::poll_descriptor* pd_ = nullptr;
};

enum class shutdown_mode { receive, send, both };

// Byte-stream operations shared by tcp_stream and unix_stream.
class stream_socket : public socket_base {
 public:
  using socket_base::socket_base;
  stream_socket() noexcept = default;

  // Reads at least one byte (returns 0 only at end of stream, or for an empty buffer).
  std::size_t read_some(mutable_buffer buf, std::error_code& ec, deadline d = {}) noexcept;
  std::size_t read_some(mutable_buffer buf, deadline d = {});
  // Fills the whole buffer; at EOF first: net_errc::end_of_stream, returning the bytes read so far.
  std::size_t read_exact(mutable_buffer buf, std::error_code& ec, deadline d = {}) noexcept;
  std::size_t read_exact(mutable_buffer buf, deadline d = {});
  // Writes at least one byte (a partial write is normal).
  std::size_t write_some(const_buffer buf, std::error_code& ec, deadline d = {}) noexcept;
  std::size_t write_some(const_buffer buf, deadline d = {});
  // Writes everything, continuing after partial writes; on error returns the bytes written so far.
  std::size_t write_all(const_buffer buf, std::error_code& ec, deadline d = {}) noexcept;
  std::size_t write_all(const_buffer buf, deadline d = {});

  // Scatter/gather: one readv/writev-style syscall per attempt. writev writes everything (like
  // write_all); readv returns after the first successful read (like read_some).
  std::size_t readv(std::span<const mutable_buffer> bufs, std::error_code& ec, deadline d = {}) noexcept;
  std::size_t readv(std::span<const mutable_buffer> bufs, deadline d = {});
  std::size_t writev(std::span<const const_buffer> bufs, std::error_code& ec, deadline d = {}) noexcept;
  std::size_t writev(std::span<const const_buffer> bufs, deadline d = {});

  // shutdown(2): after shutdown(send) the peer reads EOF while this side can still read.
  void shutdown(shutdown_mode how, std::error_code& ec) noexcept;
  void shutdown(shutdown_mode how);
};

}  // namespace fiber::net
