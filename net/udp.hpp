// udp.hpp — UDP sockets whose blocking calls park the calling fiber.
//
//   auto srv = net::udp_socket::bind(net::endpoint::loopback_v4(0));
//   auto cli = net::udp_socket::open(AF_INET);
//   cli.send_to("ping", srv.local_endpoint());
//   char buf[1500]; net::endpoint from;
//   auto n = srv.recv_from(buf, from, 1s);     // std::errc::timed_out after 1 s without a datagram
//   cli.connect(srv.local_endpoint());         // connected mode: send()/recv() with that peer only
//
// Semantics: one call sends or receives one datagram. A datagram longer than the buffer is truncated
// (the rest is dropped, as recv(2) does). Deadlines, cancellation, close() and error forms as in
// net/socket.hpp. In connected mode an ICMP port-unreachable from the peer surfaces as
// std::errc::connection_refused on a later call.
#pragma once

#include <sys/socket.h>

#include <net/endpoint.hpp>
#include <net/socket.hpp>

namespace fiber::net {

struct udp_options {
  bool reuse_address = false;
  bool reuse_port = false;
};

class udp_socket : public socket_base {
 public:
  udp_socket() noexcept = default;

  // An unbound socket (the kernel picks a port on first send). family: AF_INET or AF_INET6.
  static udp_socket open(int family, std::error_code& ec) noexcept;
  static udp_socket open(int family = AF_INET);
  static udp_socket bind(const endpoint& at, const udp_options& opts, std::error_code& ec) noexcept;
  static udp_socket bind(const endpoint& at, std::error_code& ec) noexcept { return bind(at, {}, ec); }
  static udp_socket bind(const endpoint& at, const udp_options& opts = {});

  // Fixes the peer: send()/recv() use it and datagrams from elsewhere are filtered by the kernel.
  void connect(const endpoint& peer, std::error_code& ec) noexcept;
  void connect(const endpoint& peer);

  std::size_t send_to(const_buffer buf, const endpoint& to, std::error_code& ec, deadline d = {}) noexcept;
  std::size_t send_to(const_buffer buf, const endpoint& to, deadline d = {});
  std::size_t recv_from(mutable_buffer buf, endpoint& from, std::error_code& ec, deadline d = {}) noexcept;
  std::size_t recv_from(mutable_buffer buf, endpoint& from, deadline d = {});
  std::size_t send(const_buffer buf, std::error_code& ec, deadline d = {}) noexcept;
  std::size_t send(const_buffer buf, deadline d = {});
  std::size_t recv(mutable_buffer buf, std::error_code& ec, deadline d = {}) noexcept;
  std::size_t recv(mutable_buffer buf, deadline d = {});

  endpoint local_endpoint(std::error_code& ec) const noexcept { return ip_name(false, ec); }
  endpoint local_endpoint() const;
  endpoint remote_endpoint(std::error_code& ec) const noexcept { return ip_name(true, ec); }
  endpoint remote_endpoint() const;

 private:
  friend class socket_base;  // open_socket / adopt
  udp_socket(int fd, nonblocking_fd_t t) : socket_base(fd, t) {}
};

}  // namespace fiber::net
