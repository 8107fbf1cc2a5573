// socket.cpp — socket_base ownership and the stream calls of net/socket.hpp.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <net/detail/operation.hpp>
#include <net/detail/poll_descriptor.hpp>
#include <net/socket.hpp>

namespace fiber::net {

socket_base::socket_base(int fd) {
  if (fd < 0) throw std::system_error(std::make_error_code(std::errc::bad_file_descriptor), "weft: socket_base");
  int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0 && !(fl & O_NONBLOCK)) ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  pd_ = detail::poll_descriptor::create(fd);
}

socket_base::socket_base(int fd, nonblocking_fd_t) {
  pd_ = detail::poll_descriptor::create(fd);
}

endpoint socket_base::ip_name(bool peer, std::error_code& ec) const noexcept {
  ec.clear();
  if (!pd_ || !pd_->begin_op()) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return {};
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  int r = peer ? ::getpeername(pd_->fd(), sa, &len) : ::getsockname(pd_->fd(), sa, &len);
  if (r < 0) ec = detail::errno_code(errno);
  pd_->end_op();
  if (ec) return {};
  auto e = endpoint::from_sockaddr(sa, len);
  if (!e) ec = std::make_error_code(std::errc::address_family_not_supported);
  return e ? *e : endpoint();
}

socket_base& socket_base::operator=(socket_base&& o) noexcept {
  if (this != &o) {
    if (pd_) pd_->release();
    pd_ = std::exchange(o.pd_, nullptr);
  }
  return *this;
}

socket_base::~socket_base() {
  if (pd_) pd_->release();
}

bool socket_base::is_open() const noexcept {
  return pd_ && !pd_->is_closed();
}
int socket_base::native_handle() const noexcept {
  return is_open() ? pd_->fd() : -1;
}
void socket_base::close() noexcept {
  if (pd_) pd_->close();
}

void socket_base::set_option(int level, int name, int value, std::error_code& ec) noexcept {
  ec.clear();
  if (!pd_ || !pd_->begin_op()) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return;
  }
  if (::setsockopt(pd_->fd(), level, name, &value, sizeof value) < 0) ec = detail::errno_code(errno);
  pd_->end_op();
}

void socket_base::set_option(int level, int name, int value) {
  std::error_code ec;
  set_option(level, name, value, ec);
  detail::throw_if(ec, "setsockopt");
}

int socket_base::get_option(int level, int name, std::error_code& ec) const noexcept {
  ec.clear();
  if (!pd_ || !pd_->begin_op()) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return 0;
  }
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(pd_->fd(), level, name, &value, &len) < 0) ec = detail::errno_code(errno);
  pd_->end_op();
  return value;
}

int socket_base::get_option(int level, int name) const {
  std::error_code ec;
  int v = get_option(level, name, ec);
  detail::throw_if(ec, "getsockopt");
  return v;
}

// ---- stream_socket

std::size_t stream_socket::read_some(mutable_buffer buf, std::error_code& ec, deadline d) noexcept {
  if (buf.size() == 0) {
    ec.clear();
    return 0;
  }
  const long r = detail::perform_on(
      pd(), {.kind = detail::op_kind::recv, .buf = buf.data(), .len = buf.size(), .stream = true}, d.when(), ec);
  return r < 0 ? 0 : static_cast<std::size_t>(r);
}

std::size_t stream_socket::read_some(mutable_buffer buf, deadline d) {
  return detail::value_or_throw("read_some", [&](std::error_code& ec) { return read_some(buf, ec, d); });
}

std::size_t stream_socket::read_exact(mutable_buffer buf, std::error_code& ec, deadline d) noexcept {
  std::size_t done = 0;
  ec.clear();
  while (done < buf.size()) {
    auto n = read_some(buf.subspan(done), ec, d);
    if (ec) return done;
    if (n == 0) {
      ec = make_error_code(net_errc::end_of_stream);
      return done;
    }
    done += n;
  }
  return done;
}

std::size_t stream_socket::read_exact(mutable_buffer buf, deadline d) {
  return detail::value_or_throw("read_exact", [&](std::error_code& ec) { return read_exact(buf, ec, d); });
}

std::size_t stream_socket::write_some(const_buffer buf, std::error_code& ec, deadline d) noexcept {
  if (buf.size() == 0) {
    ec.clear();
    return 0;
  }
  // No SIGPIPE (operation.hpp): a write to a reset connection reports EPIPE instead.
  const long r = detail::perform_on(
      pd(), {.kind = detail::op_kind::send, .buf = const_cast<void*>(buf.data()), .len = buf.size()}, d.when(), ec);
  return r < 0 ? 0 : static_cast<std::size_t>(r);
}

std::size_t stream_socket::write_some(const_buffer buf, deadline d) {
  return detail::value_or_throw("write_some", [&](std::error_code& ec) { return write_some(buf, ec, d); });
}

std::size_t stream_socket::write_all(const_buffer buf, std::error_code& ec, deadline d) noexcept {
  std::size_t done = 0;
  ec.clear();
  while (done < buf.size()) {
    auto n = write_some(buf.subspan(done), ec, d);
    if (ec) return done;
    done += n;
  }
  return done;
}

std::size_t stream_socket::write_all(const_buffer buf, deadline d) {
  return detail::value_or_throw("write_all", [&](std::error_code& ec) { return write_all(buf, ec, d); });
}

namespace {
constexpr std::size_t max_iov = 64;  // per syscall; larger spans are handled in several calls
}

std::size_t stream_socket::readv(std::span<const mutable_buffer> bufs, std::error_code& ec, deadline d) noexcept {
  iovec iov[max_iov];
  std::size_t n = std::min(bufs.size(), max_iov), total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    iov[i] = {bufs[i].data(), bufs[i].size()};
    total += bufs[i].size();
  }
  if (total == 0) {
    ec.clear();
    return 0;
  }
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = n;
  const long r =
      detail::perform_on(pd(), {.kind = detail::op_kind::recvmsg, .msg = &msg, .stream = true}, d.when(), ec);
  return r < 0 ? 0 : static_cast<std::size_t>(r);
}

std::size_t stream_socket::readv(std::span<const mutable_buffer> bufs, deadline d) {
  return detail::value_or_throw("readv", [&](std::error_code& ec) { return readv(bufs, ec, d); });
}

std::size_t stream_socket::writev(std::span<const const_buffer> bufs, std::error_code& ec, deadline d) noexcept {
  ec.clear();
  std::size_t written = 0;
  std::size_t first = 0, skip = 0;  // the next byte to send is bufs[first] + skip
  for (;;) {
    while (first < bufs.size() && skip >= bufs[first].size()) {
      skip -= bufs[first].size();
      ++first;
    }
    if (first >= bufs.size()) return written;
    iovec iov[max_iov];
    std::size_t n = 0;
    for (std::size_t i = first; i < bufs.size() && n < max_iov; ++i) {
      auto b = i == first ? bufs[i].subspan(skip) : bufs[i];
      iov[n++] = {const_cast<void*>(b.data()), b.size()};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
    const long r = detail::perform_on(pd(), {.kind = detail::op_kind::sendmsg, .msg = &msg}, d.when(), ec);
    if (r < 0) return written;
    written += static_cast<std::size_t>(r);
    skip += static_cast<std::size_t>(r);
  }
}

std::size_t stream_socket::writev(std::span<const const_buffer> bufs, deadline d) {
  return detail::value_or_throw("writev", [&](std::error_code& ec) { return writev(bufs, ec, d); });
}

void stream_socket::shutdown(shutdown_mode how, std::error_code& ec) noexcept {
  ec.clear();
  auto* p = pd();
  if (!p || !p->begin_op()) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return;
  }
  int h = how == shutdown_mode::receive ? SHUT_RD : how == shutdown_mode::send ? SHUT_WR : SHUT_RDWR;
  if (::shutdown(p->fd(), h) < 0) ec = detail::errno_code(errno);
  p->end_op();
}

void stream_socket::shutdown(shutdown_mode how) {
  std::error_code ec;
  shutdown(how, ec);
  detail::throw_if(ec, "shutdown");
}

}  // namespace fiber::net
