// unix.hpp — Unix-domain stream sockets (path-based; a leading '@' names an abstract socket).
//
//   auto l = net::unix_listener::bind("/tmp/app.sock");
//   fiber::spawn([&] { auto c = l.accept(); c.write_all("hi"); });
//   auto s = net::unix_stream::connect("/tmp/app.sock", 1s);
//   auto [a, b] = net::unix_stream::pair();      // socketpair(AF_UNIX, SOCK_STREAM)
//
// Semantics: the byte-stream calls, deadlines, cancellation and close() rules of net/socket.hpp.
// bind() fails with std::errc::address_in_use if the path exists (remove stale files yourself); the
// listener unlinks the file it created when it is closed or destroyed. Paths longer than
// sizeof(sockaddr_un::sun_path) - 1 fail with std::errc::filename_too_long.
#pragma once

#include <net/socket.hpp>
#include <string>
#include <string_view>
#include <utility>

namespace fiber::net {

class unix_stream : public stream_socket {
 public:
  unix_stream() noexcept = default;
  explicit unix_stream(int fd) : stream_socket(fd) {}

  static unix_stream connect(std::string_view path, std::error_code& ec, deadline d = {}) noexcept;
  static unix_stream connect(std::string_view path, deadline d = {});
  static std::pair<unix_stream, unix_stream> pair();

 private:
  friend class unix_listener;
  friend class socket_base;  // open_socket / adopt
  unix_stream(int fd, nonblocking_fd_t t) : stream_socket(fd, t) {}
};

class unix_listener : public socket_base {
 public:
  unix_listener() noexcept = default;
  unix_listener(unix_listener&& o) noexcept
      : socket_base(std::move(o)), path_(std::move(o.path_)), owns_file_(std::exchange(o.owns_file_, false)) {}
  unix_listener& operator=(unix_listener&& o) noexcept;
  ~unix_listener();

  static unix_listener bind(std::string_view path, std::error_code& ec, int backlog = SOMAXCONN) noexcept;
  static unix_listener bind(std::string_view path, int backlog = SOMAXCONN);

  unix_stream accept(std::error_code& ec, deadline d = {}) noexcept;
  unix_stream accept(deadline d = {});

  const std::string& path() const noexcept { return path_; }
  void close() noexcept;  // also unlinks the socket file

 private:
  friend class socket_base;  // open_socket / adopt
  unix_listener(int fd, nonblocking_fd_t t) : socket_base(fd, t) {}
  std::string path_;
  bool owns_file_ = false;  // bind() created path_ in the filesystem; close() unlinks it once
};

}  // namespace fiber::net
