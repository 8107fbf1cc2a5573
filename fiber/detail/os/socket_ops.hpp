// socket_ops.hpp — sockets the way weft drives them: non-blocking and close-on-exec from birth, and
// never raising SIGPIPE. Linux has SOCK_NONBLOCK | SOCK_CLOEXEC, accept4 and MSG_NOSIGNAL; macOS has
// none of them and needs SO_NOSIGPIPE on the socket; FreeBSD has some. What exists is probed at
// build time (CMake), not assumed per OS. net/ reaches these calls only through here.
#pragma once

#include <sys/socket.h>

#include <cstddef>

namespace fiber::detail {

// Flags for send/sendto/sendmsg: MSG_NOSIGNAL where it exists (else the socket has SO_NOSIGPIPE).
#ifdef MSG_NOSIGNAL
inline constexpr int no_sigpipe_send_flag = MSG_NOSIGNAL;
#else
inline constexpr int no_sigpipe_send_flag = 0;
#endif

// socket(2), non-blocking, close-on-exec, no SIGPIPE. -1 with errno on failure (no fd leaks).
int open_socket(int family, int type, int protocol) noexcept;
// socketpair(2), both ends like open_socket. -1 with errno on failure.
int open_socket_pair(int family, int type, int protocol, int fds[2]) noexcept;
// accept(2) of one connection, non-blocking, close-on-exec, no SIGPIPE. -1 with errno.
int accept_connection(int listen_fd) noexcept;

// Probes of a connecting socket. On Linux they are raw system calls, so that an interposer (weft's
// own hook library) never sees weft's internal checks; elsewhere libc's.
int pending_socket_error(int fd) noexcept;  // SO_ERROR (0: none; the errno when the call itself fails)
bool writable_now(int fd) noexcept;         // poll(POLLOUT) with a zero timeout
bool has_peer(int fd) noexcept;             // getpeername succeeds (false with errno, ENOTCONN: not yet)

// One non-blocking transfer on a socket weft made non-blocking: >= 0, or -1 with errno. On Linux
// raw system calls: libc's wrappers are cancellation points, which switch the thread's cancel
// state on and off around every call with two locked instructions (4% of an echo server's user
// time here), and a worker thread is never a pthread cancellation target. Elsewhere, and in
// sanitizer builds (whose interceptors check these calls), libc's.
long socket_recv(int fd, void* buf, std::size_t len, int flags) noexcept;
long socket_send(int fd, const void* buf, std::size_t len, int flags) noexcept;  // adds no_sigpipe_send_flag
long socket_recvmsg(int fd, msghdr* msg, int flags) noexcept;
long socket_sendmsg(int fd, const msghdr* msg, int flags) noexcept;  // adds no_sigpipe_send_flag
long socket_recvfrom(int fd, void* buf, std::size_t len, int flags, sockaddr* from, socklen_t* fromlen) noexcept;
long socket_sendto(int fd, const void* buf, std::size_t len, int flags, const sockaddr* to,
                   socklen_t tolen) noexcept;  // adds no_sigpipe_send_flag

}  // namespace fiber::detail
