// unix.cpp — unix_stream and unix_listener (net/unix.hpp).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <net/detail/operation.hpp>
#include <net/detail/poll_descriptor.hpp>
#include <net/detail/socket_factory.hpp>
#include <net/unix.hpp>

namespace fiber::net {

namespace {
bool make_address(std::string_view path, sockaddr_un& sa, socklen_t& len, std::error_code& ec) {
  std::memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (path.empty()) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return false;
  }
  if (path.size() >= sizeof sa.sun_path) {
    ec = std::make_error_code(std::errc::filename_too_long);
    return false;
  }
  std::memcpy(sa.sun_path, path.data(), path.size());
  if (path[0] == '@') sa.sun_path[0] = '\0';  // abstract namespace: no file
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1));
  return true;
}
}  // namespace

unix_stream unix_stream::connect(std::string_view path, std::error_code& ec, deadline d) noexcept {
  ec.clear();
  sockaddr_un sa;
  socklen_t len;
  if (!make_address(path, sa, len, ec)) return {};
  auto s = open_socket<unix_stream>(AF_UNIX, SOCK_STREAM, ec);
  if (ec) return {};
  ec = detail::connect_socket(s.pd(), reinterpret_cast<sockaddr*>(&sa), len, d.when());
  if (ec) return {};
  return s;
}

unix_stream unix_stream::connect(std::string_view path, deadline d) {
  std::error_code ec;
  auto s = connect(path, ec, d);
  if (ec) throw std::system_error(ec, "weft: unix_stream::connect " + std::string(path));
  return s;
}

std::pair<unix_stream, unix_stream> unix_stream::pair() {
  int fds[2];
  if (fiber::detail::open_socket_pair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
    throw std::system_error(errno, std::generic_category(), "weft: unix_stream::pair");
  return {unix_stream(fds[0], nonblocking_fd_t{}), unix_stream(fds[1], nonblocking_fd_t{})};
}

unix_listener& unix_listener::operator=(unix_listener&& o) noexcept {
  if (this != &o) {
    close();
    path_ = std::move(o.path_);  // the derived part first: the base move below leaves `o` moved from
    owns_file_ = std::exchange(o.owns_file_, false);
    socket_base::operator=(std::move(o));
  }
  return *this;
}

unix_listener::~unix_listener() {
  close();
}

void unix_listener::close() noexcept {
  if (std::exchange(owns_file_, false)) ::unlink(path_.c_str());
  socket_base::close();
}

unix_listener unix_listener::bind(std::string_view path, std::error_code& ec, int backlog) noexcept {
  ec.clear();
  sockaddr_un sa;
  socklen_t len;
  if (!make_address(path, sa, len, ec)) return {};
  auto l = open_socket<unix_listener>(AF_UNIX, SOCK_STREAM, ec);
  if (ec) return {};
  const int fd = l.native_handle();
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) < 0 || ::listen(fd, backlog) < 0) {
    ec = detail::errno_code(errno);
    return {};  // l closes the fd
  }
  try {
    l.path_.assign(path);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
  l.owns_file_ = path[0] != '@';
  return l;
}

unix_listener unix_listener::bind(std::string_view path, int backlog) {
  std::error_code ec;
  auto l = bind(path, ec, backlog);
  if (ec) throw std::system_error(ec, "weft: unix_listener::bind " + std::string(path));
  return l;
}

unix_stream unix_listener::accept(std::error_code& ec, deadline d) noexcept {
  int fd = detail::accept_socket(pd(), d.when(), ec);
  if (fd < 0) return {};
  return adopt<unix_stream>(fd, ec);
}

unix_stream unix_listener::accept(deadline d) {
  return detail::value_or_throw("unix_listener::accept", [&](std::error_code& ec) { return accept(ec, d); });
}

}  // namespace fiber::net
