// socket_ops_posix.cpp — os/socket_ops.hpp: one code path, the flags the build probed for
// (WEFT_HAVE_SOCK_FLAGS: SOCK_NONBLOCK/SOCK_CLOEXEC in socket's type; WEFT_HAVE_ACCEPT4). Without
// them the flags are set with fcntl right after the call (a fork in between may inherit the fd:
// that is the platform's limit, not ours to fix).
#include <fiber/detail/os/socket_ops.hpp>
#include <fiber/detail/sanitizers.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include <cerrno>

namespace fiber::detail {

namespace {

// After the fact: O_NONBLOCK, FD_CLOEXEC and (where MSG_NOSIGNAL is missing) SO_NOSIGPIPE.
bool finish_socket(int fd, bool flags_done) noexcept {
  if (!flags_done) {
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return false;
    if (::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return false;
  }
#if defined(SO_NOSIGPIPE) && !defined(MSG_NOSIGNAL)
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) < 0) return false;
#endif
  return true;
}

int fail_closing(int fd) noexcept {
  const int err = errno;
  ::close(fd);
  errno = err;
  return -1;
}

#if defined(WEFT_HAVE_SOCK_FLAGS)
constexpr int birth_flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
constexpr bool flags_at_birth = true;
#else
constexpr int birth_flags = 0;
constexpr bool flags_at_birth = false;
#endif

}  // namespace

int open_socket(int family, int type, int protocol) noexcept {
  const int fd = ::socket(family, type | birth_flags, protocol);
  if (fd < 0) return -1;
  return finish_socket(fd, flags_at_birth) ? fd : fail_closing(fd);
}

int open_socket_pair(int family, int type, int protocol, int fds[2]) noexcept {
  if (::socketpair(family, type | birth_flags, protocol, fds) < 0) return -1;
  if (!finish_socket(fds[0], flags_at_birth) || !finish_socket(fds[1], flags_at_birth)) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    errno = err;
    return -1;
  }
  return 0;
}

int pending_socket_error(int fd) noexcept {
  int err = 0;
  socklen_t len = sizeof err;
#if defined(__linux__)
  const long r = ::syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, &err, &len);
#else
  const int r = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
#endif
  return r < 0 ? errno : err;
}

bool writable_now(int fd) noexcept {
  pollfd p{fd, POLLOUT, 0};
#if defined(__linux__)
  const timespec zero{0, 0};
  const long r = ::syscall(SYS_ppoll, &p, 1, &zero, nullptr, 0);
#else
  const int r = ::poll(&p, 1, 0);
#endif
  return r == 1 && (p.revents & POLLOUT);
}

bool has_peer(int fd) noexcept {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
#if defined(__linux__)
  return ::syscall(SYS_getpeername, fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0;
#else
  return ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0;
#endif
}

int accept_connection(int listen_fd) noexcept {
#if defined(WEFT_HAVE_ACCEPT4)
  const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return -1;
  return finish_socket(fd, true) ? fd : fail_closing(fd);
#else
  const int fd = ::accept(listen_fd, nullptr, nullptr);
  if (fd < 0) return -1;
  return finish_socket(fd, false) ? fd : fail_closing(fd);
#endif
}

// Under the sanitizers libc's wrappers stay: their interceptors check the buffers (ASan) and see
// the hand-off of data through a socket between threads (TSan).
#if defined(__linux__) && !defined(WEFT_ASAN) && !defined(WEFT_TSAN)
#define WEFT_RAW_SOCKET_CALLS 1
#endif

long socket_recv(int fd, void* buf, std::size_t len, int flags) noexcept {
#ifdef WEFT_RAW_SOCKET_CALLS
  return ::syscall(SYS_recvfrom, fd, buf, len, flags, nullptr, nullptr);
#else
  return ::recv(fd, buf, len, flags);
#endif
}

long socket_send(int fd, const void* buf, std::size_t len, int flags) noexcept {
#ifdef WEFT_RAW_SOCKET_CALLS
  return ::syscall(SYS_sendto, fd, buf, len, flags | no_sigpipe_send_flag, nullptr, 0);
#else
  return ::send(fd, buf, len, flags | no_sigpipe_send_flag);
#endif
}

long socket_recvmsg(int fd, msghdr* msg, int flags) noexcept {
#ifdef WEFT_RAW_SOCKET_CALLS
  return ::syscall(SYS_recvmsg, fd, msg, flags);
#else
  return ::recvmsg(fd, msg, flags);
#endif
}

long socket_sendmsg(int fd, const msghdr* msg, int flags) noexcept {
#ifdef WEFT_RAW_SOCKET_CALLS
  return ::syscall(SYS_sendmsg, fd, msg, flags | no_sigpipe_send_flag);
#else
  return ::sendmsg(fd, msg, flags | no_sigpipe_send_flag);
#endif
}

long socket_recvfrom(int fd, void* buf, std::size_t len, int flags, sockaddr* from, socklen_t* fromlen) noexcept {
#ifdef WEFT_RAW_SOCKET_CALLS
  return ::syscall(SYS_recvfrom, fd, buf, len, flags, from, fromlen);
#else
  return ::recvfrom(fd, buf, len, flags, from, fromlen);
#endif
}

long socket_sendto(int fd, const void* buf, std::size_t len, int flags, const sockaddr* to, socklen_t tolen) noexcept {
#ifdef WEFT_RAW_SOCKET_CALLS
  return ::syscall(SYS_sendto, fd, buf, len, flags | no_sigpipe_send_flag, to, tolen);
#else
  return ::sendto(fd, buf, len, flags | no_sigpipe_send_flag, to, tolen);
#endif
}

}  // namespace fiber::detail
