// udp.cpp — udp_socket (net/udp.hpp).
#include <sys/socket.h>
#include <unistd.h>

#include <net/detail/operation.hpp>
#include <net/detail/poll_descriptor.hpp>
#include <net/detail/socket_factory.hpp>
#include <net/udp.hpp>

namespace fiber::net {

udp_socket udp_socket::open(int family, std::error_code& ec) noexcept {
  return open_socket<udp_socket>(family, SOCK_DGRAM, ec);
}

udp_socket udp_socket::open(int family) {
  return detail::value_or_throw("udp_socket::open", [&](std::error_code& ec) { return open(family, ec); });
}

udp_socket udp_socket::bind(const endpoint& at, const udp_options& opts, std::error_code& ec) noexcept {
  auto s = open(at.family(), ec);
  if (ec) return {};
  int fd = s.native_handle();
  int one = 1;
  if ((opts.reuse_address && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) ||
      (opts.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
      ::bind(fd, at.data(), at.size()) < 0) {
    ec = detail::errno_code(errno);
    return {};
  }
  return s;
}

udp_socket udp_socket::bind(const endpoint& at, const udp_options& opts) {
  std::error_code ec;
  auto s = bind(at, opts, ec);
  if (ec) throw std::system_error(ec, "weft: udp_socket::bind " + at.to_string());
  return s;
}

void udp_socket::connect(const endpoint& peer, std::error_code& ec) noexcept {
  ec.clear();
  if (!pd() || !pd()->begin_op()) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return;
  }
  while (::connect(pd()->fd(), peer.data(), peer.size()) < 0) {
    if (errno == EINTR) continue;
    ec = detail::errno_code(errno);
    break;
  }
  pd()->end_op();
}

void udp_socket::connect(const endpoint& peer) {
  std::error_code ec;
  connect(peer, ec);
  if (ec) throw std::system_error(ec, "weft: udp_socket::connect " + peer.to_string());
}

std::size_t udp_socket::send_to(const_buffer buf, const endpoint& to, std::error_code& ec, deadline d) noexcept {
  const long r = detail::perform_on(pd(),
                                    {.kind = detail::op_kind::sendto,
                                     .buf = const_cast<void*>(buf.data()),
                                     .len = buf.size(),
                                     .peer = to.data(),
                                     .peerlen = static_cast<socklen_t>(to.size())},
                                    d.when(), ec);
  return r < 0 ? 0 : static_cast<std::size_t>(r);
}

std::size_t udp_socket::send_to(const_buffer buf, const endpoint& to, deadline d) {
  return detail::value_or_throw("udp_socket::send_to", [&](std::error_code& ec) { return send_to(buf, to, ec, d); });
}

std::size_t udp_socket::recv_from(mutable_buffer buf, endpoint& from, std::error_code& ec, deadline d) noexcept {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const long r = detail::perform_on(pd(),
                                    {.kind = detail::op_kind::recvfrom,
                                     .buf = buf.data(),
                                     .len = buf.size(),
                                     .addr = reinterpret_cast<sockaddr*>(&ss),
                                     .addrlen = &len},
                                    d.when(), ec);
  if (r < 0) return 0;
  if (auto e = endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len)) from = *e;
  return static_cast<std::size_t>(r);
}

std::size_t udp_socket::recv_from(mutable_buffer buf, endpoint& from, deadline d) {
  return detail::value_or_throw("udp_socket::recv_from",
                                [&](std::error_code& ec) { return recv_from(buf, from, ec, d); });
}

std::size_t udp_socket::send(const_buffer buf, std::error_code& ec, deadline d) noexcept {
  const long r = detail::perform_on(
      pd(), {.kind = detail::op_kind::send, .buf = const_cast<void*>(buf.data()), .len = buf.size()}, d.when(), ec);
  return r < 0 ? 0 : static_cast<std::size_t>(r);
}

std::size_t udp_socket::send(const_buffer buf, deadline d) {
  return detail::value_or_throw("udp_socket::send", [&](std::error_code& ec) { return send(buf, ec, d); });
}

std::size_t udp_socket::recv(mutable_buffer buf, std::error_code& ec, deadline d) noexcept {
  const long r =
      detail::perform_on(pd(), {.kind = detail::op_kind::recv, .buf = buf.data(), .len = buf.size()}, d.when(), ec);
  return r < 0 ? 0 : static_cast<std::size_t>(r);
}

std::size_t udp_socket::recv(mutable_buffer buf, deadline d) {
  return detail::value_or_throw("udp_socket::recv", [&](std::error_code& ec) { return recv(buf, ec, d); });
}

endpoint udp_socket::local_endpoint() const {
  return detail::value_or_throw("udp_socket::local_endpoint", [&](std::error_code& ec) { return local_endpoint(ec); });
}

endpoint udp_socket::remote_endpoint() const {
  return detail::value_or_throw("udp_socket::remote_endpoint",
                                [&](std::error_code& ec) { return remote_endpoint(ec); });
}

}  // namespace fiber::net
