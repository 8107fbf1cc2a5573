// tcp.hpp — TCP listener and stream whose blocking calls park the calling fiber.
//
//   auto l = net::tcp_listener::bind("127.0.0.1:7007");           // or an endpoint; throws on failure
//   for (;;) fiber::spawn([](net::tcp_stream s) {                  // one fiber per connection
//     char buf[4096];
//     while (auto n = s.read_some(buf)) s.write_all(net::const_buffer(buf, n));
//   }, l.accept());
//
//   auto s = net::tcp_stream::connect("localhost:7007", 2s);       // name resolved through resolve()
//   s.write_all("ping");  s.shutdown(net::shutdown_mode::send);
//
// Semantics: see net/socket.hpp (ownership, close() waking waiters, deadlines, cancellation, error
// forms). Sockets are SOCK_NONBLOCK | SOCK_CLOEXEC; sends use MSG_NOSIGNAL, so SIGPIPE never fires.
// read_some returns 0 only at end of stream (the peer shut down its sending side; this side can still
// write). A reset peer gives std::errc::connection_reset (reads) or broken_pipe (writes).
// connect: std::errc::connection_refused when nothing listens; std::errc::timed_out when the deadline
// passes first; to a "name:port" it tries each resolved address in order within the one deadline and
// reports the last error.
// accept: when the process is out of descriptors (EMFILE/ENFILE) or memory, accept pauses 10 ms and
// then reports the error, so a server loop that logs and retries cannot spin at 100% CPU; the pending
// connection stays queued and is accepted once descriptors are available.
#pragma once

#include <sys/socket.h>

#include <net/endpoint.hpp>
#include <net/socket.hpp>
#include <string_view>
#include <system_error>

namespace fiber::net {

class tcp_stream : public stream_socket {
 public:
  tcp_stream() noexcept = default;
  explicit tcp_stream(int fd) : stream_socket(fd) {}  // adopts a connected socket

  static tcp_stream connect(const endpoint& to, deadline d = {});
  static tcp_stream connect(const endpoint& to, std::error_code& ec, deadline d = {}) noexcept;
  static tcp_stream connect(std::string_view host_port, deadline d = {});
  static tcp_stream connect(std::string_view host_port, std::error_code& ec, deadline d = {}) noexcept;

  void set_no_delay(bool on, std::error_code& ec) noexcept;
  void set_no_delay(bool on = true);
  bool no_delay() const;
  void set_keep_alive(bool on, std::error_code& ec) noexcept;
  void set_keep_alive(bool on = true);
  bool keep_alive() const;

  endpoint local_endpoint(std::error_code& ec) const noexcept { return ip_name(false, ec); }
  endpoint local_endpoint() const;
  endpoint remote_endpoint(std::error_code& ec) const noexcept { return ip_name(true, ec); }
  endpoint remote_endpoint() const;

 private:
  friend class tcp_listener;
  friend class socket_base;  // open_socket / adopt
  tcp_stream(int fd, nonblocking_fd_t t) : stream_socket(fd, t) {}
};

struct listen_options {
  int backlog = SOMAXCONN;
  bool reuse_address = true;  // SO_REUSEADDR: rebind right after a restart despite TIME_WAIT
  bool reuse_port = false;    // SO_REUSEPORT: several listeners share the port (kernel balances)
  bool v6_only = false;       // IPV6_V6ONLY for an IPv6 listener
};

class tcp_listener : public socket_base {
 public:
  tcp_listener() noexcept = default;

  static tcp_listener bind(const endpoint& at, const listen_options& opts = {});
  static tcp_listener bind(const endpoint& at, std::error_code& ec) noexcept { return bind(at, {}, ec); }
  static tcp_listener bind(const endpoint& at, const listen_options& opts, std::error_code& ec) noexcept;
  // "127.0.0.1:80", "[::1]:0", "localhost:8080", ":8080" (all IPv4 interfaces).
  static tcp_listener bind(std::string_view host_port, const listen_options& opts = {});
  static tcp_listener bind(std::string_view host_port, const listen_options& opts, std::error_code& ec) noexcept;

  tcp_stream accept(deadline d = {});
  tcp_stream accept(std::error_code& ec, deadline d = {}) noexcept;

  endpoint local_endpoint(std::error_code& ec) const noexcept { return ip_name(false, ec); }
  endpoint local_endpoint() const;

 private:
  friend class socket_base;  // open_socket / adopt
  tcp_listener(int fd, nonblocking_fd_t t) : socket_base(fd, t) {}
};

}  // namespace fiber::net
