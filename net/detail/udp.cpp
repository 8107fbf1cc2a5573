// udp.cpp — udp_socket (net/udp.hpp).
#include <sys/socket.h>
#include <unistd.h>

#include <net/detail/io_loop.hpp>
#include <net/detail/poll_descriptor.hpp>
#include <net/udp.hpp>

namespace fiber::net {

udp_socket udp_socket::open(int family, std::error_code& ec) noexcept {
  ec.clear();
  int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ec = detail::errno_code(errno);
    return {};
  }
  try {
    return udp_socket(fd, nonblocking_fd_t{});
  } catch (const std::bad_alloc&) {
    ::close(fd);
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

udp_socket udp_socket::open(int family) {
  std::error_code ec;
  auto s = open(family, ec);
  detail::throw_if(ec, "udp_socket::open");
  return s;
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
  long r = detail::run_io(pd(), detail::io_kind::write, d.when(), ec, [&](int fd) {
    return ::sendto(fd, buf.data(), buf.size(), MSG_NOSIGNAL, to.data(), to.size());
  });
  return r < 0 ? 0 : static_cast<std::size_t>(r);
}

std::size_t udp_socket::send_to(const_buffer buf, const endpoint& to, deadline d) {
  std::error_code ec;
  auto n = send_to(buf, to, ec, d);
  detail::throw_if(ec, "udp_socket::send_to");
  return n;
}

std::size_t udp_socket::recv_from(mutable_buffer buf, endpoint& from, std::error_code& ec, deadline d) noexcept {
  sockaddr_storage ss{};
  socklen_t len = 0;
  long r = detail::run_io(pd(), detail::io_kind::read, d.when(), ec, [&](int fd) {
    len = sizeof ss;
    return ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&ss), &len);
  });
  if (r < 0) return 0;
  if (auto e = endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len)) from = *e;
  return static_cast<std::size_t>(r);
}

std::size_t udp_socket::recv_from(mutable_buffer buf, endpoint& from, deadline d) {
  std::error_code ec;
  auto n = recv_from(buf, from, ec, d);
  detail::throw_if(ec, "udp_socket::recv_from");
  return n;
}

std::size_t udp_socket::send(const_buffer buf, std::error_code& ec, deadline d) noexcept {
  long r = detail::run_io(pd(), detail::io_kind::write, d.when(), ec,
                          [&](int fd) { return ::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL); });
  return r < 0 ? 0 : static_cast<std::size_t>(r);
}

std::size_t udp_socket::send(const_buffer buf, deadline d) {
  std::error_code ec;
  auto n = send(buf, ec, d);
  detail::throw_if(ec, "udp_socket::send");
  return n;
}

std::size_t udp_socket::recv(mutable_buffer buf, std::error_code& ec, deadline d) noexcept {
  long r = detail::run_io(pd(), detail::io_kind::read, d.when(), ec,
                          [&](int fd) { return ::recv(fd, buf.data(), buf.size(), 0); });
  return r < 0 ? 0 : static_cast<std::size_t>(r);
}

std::size_t udp_socket::recv(mutable_buffer buf, deadline d) {
  std::error_code ec;
  auto n = recv(buf, ec, d);
  detail::throw_if(ec, "udp_socket::recv");
  return n;
}

endpoint udp_socket::local_endpoint() const {
  std::error_code ec;
  auto e = local_endpoint(ec);
  detail::throw_if(ec, "udp_socket::local_endpoint");
  return e;
}

endpoint udp_socket::remote_endpoint() const {
  std::error_code ec;
  auto e = remote_endpoint(ec);
  detail::throw_if(ec, "udp_socket::remote_endpoint");
  return e;
}

}  // namespace fiber::net
