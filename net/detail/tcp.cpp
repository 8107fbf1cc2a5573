// tcp.cpp — tcp_stream and tcp_listener (net/tcp.hpp).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <net/detail/operation.hpp>
#include <net/detail/poll_descriptor.hpp>
#include <net/detail/socket_factory.hpp>
#include <net/resolve.hpp>
#include <net/tcp.hpp>
#include <string>

namespace fiber::net {

tcp_stream tcp_stream::connect(const endpoint& to, std::error_code& ec, deadline d) noexcept {
  auto s = open_socket<tcp_stream>(to.family(), SOCK_STREAM, ec);
  if (ec) return {};
  ec = detail::connect_socket(s.pd(), to.data(), to.size(), d.when());
  if (ec) return {};
  return s;
}

tcp_stream tcp_stream::connect(const endpoint& to, deadline d) {
  std::error_code ec;
  auto s = connect(to, ec, d);
  if (ec) throw std::system_error(ec, "weft: tcp_stream::connect to " + to.to_string());
  return s;
}

tcp_stream tcp_stream::connect(std::string_view host_port, std::error_code& ec, deadline d) noexcept {
  ec.clear();
  try {
    std::string host, service;
    if (!split_host_port(host_port, host, service)) {
      ec = std::make_error_code(std::errc::invalid_argument);
      return {};
    }
    auto eps = resolve(host, service, ec, d);
    if (ec) return {};
    for (const auto& ep : eps) {
      auto s = connect(ep, ec, d);
      if (!ec) return s;
      if (ec == std::errc::operation_canceled || ec == std::errc::timed_out) break;
    }
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return {};
}

tcp_stream tcp_stream::connect(std::string_view host_port, deadline d) {
  std::error_code ec;
  auto s = connect(host_port, ec, d);
  if (ec) throw std::system_error(ec, "weft: tcp_stream::connect to " + std::string(host_port));
  return s;
}

void tcp_stream::set_no_delay(bool on, std::error_code& ec) noexcept {
  set_option(IPPROTO_TCP, TCP_NODELAY, on, ec);
}
void tcp_stream::set_no_delay(bool on) {
  set_option(IPPROTO_TCP, TCP_NODELAY, on);
}
bool tcp_stream::no_delay() const {
  return get_option(IPPROTO_TCP, TCP_NODELAY) != 0;
}
void tcp_stream::set_keep_alive(bool on, std::error_code& ec) noexcept {
  set_option(SOL_SOCKET, SO_KEEPALIVE, on, ec);
}
void tcp_stream::set_keep_alive(bool on) {
  set_option(SOL_SOCKET, SO_KEEPALIVE, on);
}
bool tcp_stream::keep_alive() const {
  return get_option(SOL_SOCKET, SO_KEEPALIVE) != 0;
}

endpoint tcp_stream::local_endpoint() const {
  return detail::value_or_throw("tcp_stream::local_endpoint", [&](std::error_code& ec) { return local_endpoint(ec); });
}

endpoint tcp_stream::remote_endpoint() const {
  return detail::value_or_throw("tcp_stream::remote_endpoint",
                                [&](std::error_code& ec) { return remote_endpoint(ec); });
}

// ---- listener

tcp_listener tcp_listener::bind(const endpoint& at, const listen_options& opts, std::error_code& ec) noexcept {
  auto l = open_socket<tcp_listener>(at.family(), SOCK_STREAM, ec);
  if (ec) return {};
  const int fd = l.native_handle(), one = 1;
  if ((opts.reuse_address && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) ||
      (opts.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
      (at.is_v6() && opts.v6_only && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
      ::bind(fd, at.data(), at.size()) < 0 || ::listen(fd, opts.backlog) < 0) {
    ec = detail::errno_code(errno);
    return {};  // l closes the fd
  }
  return l;
}

tcp_listener tcp_listener::bind(const endpoint& at, const listen_options& opts) {
  std::error_code ec;
  auto l = bind(at, opts, ec);
  if (ec) throw std::system_error(ec, "weft: tcp_listener::bind " + at.to_string());
  return l;
}

tcp_listener tcp_listener::bind(std::string_view host_port, const listen_options& opts, std::error_code& ec) noexcept {
  ec.clear();
  try {
    std::string host, service;
    if (!split_host_port(host_port, host, service)) {
      ec = std::make_error_code(std::errc::invalid_argument);
      return {};
    }
    if (host.empty() || host == "*") host = "0.0.0.0";
    auto eps = resolve(host, service, ec);
    if (ec) return {};
    for (const auto& ep : eps) {
      auto l = bind(ep, opts, ec);
      if (!ec) return l;
    }
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return {};
}

tcp_listener tcp_listener::bind(std::string_view host_port, const listen_options& opts) {
  std::error_code ec;
  auto l = bind(host_port, opts, ec);
  if (ec) throw std::system_error(ec, "weft: tcp_listener::bind " + std::string(host_port));
  return l;
}

tcp_stream tcp_listener::accept(std::error_code& ec, deadline d) noexcept {
  int fd = detail::accept_socket(pd(), d.when(), ec);
  if (fd < 0) return {};
  return adopt<tcp_stream>(fd, ec);
}

tcp_stream tcp_listener::accept(deadline d) {
  return detail::value_or_throw("tcp_listener::accept", [&](std::error_code& ec) { return accept(ec, d); });
}

endpoint tcp_listener::local_endpoint() const {
  return detail::value_or_throw("tcp_listener::local_endpoint",
                                [&](std::error_code& ec) { return local_endpoint(ec); });
}

}  // namespace fiber::net
