// io_hooks.cpp — read/readv/recv/recvfrom/recvmsg/write/writev/send/sendto/sendmsg and the fortified
// __read_chk/__recv_chk/__recvfrom_chk, recvmmsg/sendmmsg and sendfile.
//
// Owns: nothing but the mapping of each call onto run_blocking (hook/blocking_io.hpp).
// On a fiber, a socket or FIFO the program left blocking parks the fiber until the call can make
// progress; reads return what one call would return, writes and sends continue until everything is
// written (blocking stream semantics), recv(MSG_WAITALL) until full or EOF. MSG_DONTWAIT and fds the
// program made non-blocking return EAGAIN at once. Off a fiber the call is libc's, except on an fd a
// fiber switched to non-blocking behind the program's back: then the blocking view is emulated by
// waiting in poll(). Regular files on a fiber go to file_hooks.cpp (they park only the fiber);
// terminals and other non-pollable fds always pass through.
// sendmmsg sends every message (blocking semantics, partial count on a later error); recvmmsg waits
// for vlen messages, or one with MSG_WAITFORONE, and honours its timeout the way Linux does (checked
// after each datagram); sendfile to a blocking socket or pipe sends `count` bytes or up to EOF.
// A descriptor close() is tearing down fails every call with EBADF, MSG_DONTWAIT and non-blocking
// ones included (fd_table.hpp's close protocol; sendfile checks its in_fd too).
// Not covered: splice/tee (pass through); recvmsg(MSG_WAITALL) on a blocking fd returns once some
// data arrived instead of waiting for the full length.
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <hook/blocking_io.hpp>
#include <hook/file_io.hpp>
#include <hook/original.hpp>
#include <hook/posix_time.hpp>
#include <vector>

using weft::hook::detail::file_entry;
using weft::hook::detail::file_transfer;
using weft::hook::detail::io_kind;
using weft::hook::detail::io_op;
using weft::hook::detail::mode;
using weft::hook::detail::run_blocking;
using weft::hook::detail::run_once;
constexpr auto at_position = weft::hook::detail::io_request::current_position;

extern "C" [[noreturn]] void __chk_fail(void);

namespace {

size_t iov_total(const iovec* iov, int n) {
  size_t t = 0;
  for (int i = 0; i < n; ++i) t += iov[i].iov_len;
  return t;
}

// iov[0..n) with the first `skip` bytes removed, into `out`.
void iov_skip(const iovec* iov, int n, size_t skip, std::vector<iovec>& out) {
  out.clear();
  for (int i = 0; i < n; ++i) {
    if (skip >= iov[i].iov_len) {
      skip -= iov[i].iov_len;
      continue;
    }
    out.push_back({static_cast<char*>(iov[i].iov_base) + skip, iov[i].iov_len - skip});
    skip = 0;
  }
}

}  // namespace

extern "C" {

ssize_t read(int fd, void* buf, size_t n) {
  if (auto* f = file_entry(fd)) return file_transfer(*f, io_op::read, fd, buf, n, at_position);  // file_hooks.cpp
  return run_blocking(fd, io_kind::read, mode::once, n, [&](size_t) { return WEFT_ORIG(read)(fd, buf, n); });
}

ssize_t readv(int fd, const iovec* iov, int cnt) {
  if (auto* f = cnt >= 0 ? file_entry(fd) : nullptr)
    return file_transfer(*f, io_op::readv, fd, const_cast<iovec*>(iov), static_cast<size_t>(cnt), at_position);
  return run_blocking(fd, io_kind::read, mode::once, 1, [&](size_t) { return WEFT_ORIG(readv)(fd, iov, cnt); });
}

ssize_t recv(int fd, void* buf, size_t n, int flags) {
  if (flags & MSG_DONTWAIT) return run_once(fd, [&] { return WEFT_ORIG(recv)(fd, buf, n, flags); });
  bool all = (flags & MSG_WAITALL) && !(flags & MSG_PEEK);
  return run_blocking(fd, io_kind::read, all ? mode::all_until_eof : mode::once, n, [&](size_t done) {
    return WEFT_ORIG(recv)(fd, static_cast<char*>(buf) + done, n - done, flags);
  });
}

ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* addr, socklen_t* alen) {
  if (flags & MSG_DONTWAIT) return run_once(fd, [&] { return WEFT_ORIG(recvfrom)(fd, buf, n, flags, addr, alen); });
  bool all = (flags & MSG_WAITALL) && !(flags & MSG_PEEK);
  return run_blocking(fd, io_kind::read, all ? mode::all_until_eof : mode::once, n, [&](size_t done) {
    return WEFT_ORIG(recvfrom)(fd, static_cast<char*>(buf) + done, n - done, flags, addr, alen);
  });
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  if (flags & MSG_DONTWAIT) return run_once(fd, [&] { return WEFT_ORIG(recvmsg)(fd, msg, flags); });
  return run_blocking(fd, io_kind::read, mode::once, 1, [&](size_t) { return WEFT_ORIG(recvmsg)(fd, msg, flags); });
}

ssize_t write(int fd, const void* buf, size_t n) {
  if (auto* f = file_entry(fd)) return file_transfer(*f, io_op::write, fd, const_cast<void*>(buf), n, at_position);
  return run_blocking(fd, io_kind::write, mode::all, n, [&](size_t done) {
    return WEFT_ORIG(write)(fd, static_cast<const char*>(buf) + done, n - done);
  });
}

ssize_t writev(int fd, const iovec* iov, int cnt) {
  if (auto* f = cnt >= 0 ? file_entry(fd) : nullptr)
    return file_transfer(*f, io_op::writev, fd, const_cast<iovec*>(iov), static_cast<size_t>(cnt), at_position);
  if (cnt <= 0 || cnt > IOV_MAX) return run_once(fd, [&] { return WEFT_ORIG(writev)(fd, iov, cnt); });
  std::vector<iovec> rest;
  return run_blocking(fd, io_kind::write, mode::all, iov_total(iov, cnt), [&](size_t done) {
    if (done == 0) return WEFT_ORIG(writev)(fd, iov, cnt);
    iov_skip(iov, cnt, done, rest);
    return WEFT_ORIG(writev)(fd, rest.data(), static_cast<int>(rest.size()));
  });
}

ssize_t send(int fd, const void* buf, size_t n, int flags) {
  if (flags & MSG_DONTWAIT) return run_once(fd, [&] { return WEFT_ORIG(send)(fd, buf, n, flags); });
  return run_blocking(fd, io_kind::write, mode::all, n, [&](size_t done) {
    return WEFT_ORIG(send)(fd, static_cast<const char*>(buf) + done, n - done, flags);
  });
}

ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr, socklen_t alen) {
  if (flags & MSG_DONTWAIT) return run_once(fd, [&] { return WEFT_ORIG(sendto)(fd, buf, n, flags, addr, alen); });
  return run_blocking(fd, io_kind::write, mode::all, n, [&](size_t done) {
    return WEFT_ORIG(sendto)(fd, static_cast<const char*>(buf) + done, n - done, flags, addr, alen);
  });
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  if ((flags & MSG_DONTWAIT) || msg == nullptr || msg->msg_iovlen > IOV_MAX)
    return run_once(fd, [&] { return WEFT_ORIG(sendmsg)(fd, msg, flags); });
  std::vector<iovec> rest;
  int cnt = static_cast<int>(msg->msg_iovlen);
  return run_blocking(fd, io_kind::write, mode::all, iov_total(msg->msg_iov, cnt), [&](size_t done) {
    if (done == 0) return WEFT_ORIG(sendmsg)(fd, msg, flags);
    // The ancillary data went out with the first part; continue with the remaining bytes only.
    iov_skip(msg->msg_iov, cnt, done, rest);
    msghdr m = *msg;
    m.msg_iov = rest.data();
    m.msg_iovlen = rest.size();
    m.msg_control = nullptr;
    m.msg_controllen = 0;
    return WEFT_ORIG(sendmsg)(fd, &m, flags);
  });
}

int sendmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags) {
  if ((flags & MSG_DONTWAIT) || vec == nullptr || vlen == 0)
    return run_once(fd, [&] { return WEFT_ORIG(sendmmsg)(fd, vec, vlen, flags); });
  return static_cast<int>(run_blocking(fd, io_kind::write, mode::all, vlen, [&](size_t done) {
    return static_cast<ssize_t>(WEFT_ORIG(sendmmsg)(fd, vec + done, static_cast<unsigned>(vlen - done), flags));
  }));
}

int recvmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags, timespec* timeout) {
  if ((flags & MSG_DONTWAIT) || vec == nullptr || vlen == 0 ||
      (timeout && !weft::hook::detail::valid_timespec(*timeout)))
    return run_once(fd, [&] { return WEFT_ORIG(recvmmsg)(fd, vec, vlen, flags, timeout); });
  if (flags & MSG_WAITFORONE) {
    return static_cast<int>(run_blocking(fd, io_kind::read, mode::once, vlen, [&](size_t) {
      return static_cast<ssize_t>(WEFT_ORIG(recvmmsg)(fd, vec, vlen, flags, nullptr));
    }));
  }
  // Linux checks the timeout only after each datagram: without one, the call waits indefinitely.
  const auto until = weft::hook::detail::deadline_after_ts(timeout);
  return static_cast<int>(run_blocking(fd, io_kind::read, mode::all, vlen, [&](size_t done) -> ssize_t {
    if (done > 0 && fiber::detail::clock::now() >= until) return 0;  // timeout after some datagrams: report them
    return WEFT_ORIG(recvmmsg)(fd, vec + done, static_cast<unsigned>(vlen - done), flags, nullptr);
  }));
}

ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
  if (weft::hook::detail::refuse_if_closing(in_fd)) return -1;
  return run_blocking(out_fd, io_kind::write, mode::all, count,
                      [&](size_t done) { return WEFT_ORIG(sendfile)(out_fd, in_fd, offset, count - done); });
}

ssize_t sendfile64(int out_fd, int in_fd, off64_t* offset, size_t count) {
  if (weft::hook::detail::refuse_if_closing(in_fd)) return -1;
  return run_blocking(out_fd, io_kind::write, mode::all, count,
                      [&](size_t done) { return WEFT_ORIG(sendfile64)(out_fd, in_fd, offset, count - done); });
}

// Fortified entry points (-D_FORTIFY_SOURCE): glibc's headers redirect read/recv/recvfrom here.
ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  if (n > buflen) __chk_fail();
  return read(fd, buf, n);
}

ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags) {
  if (n > buflen) __chk_fail();
  return recv(fd, buf, n, flags);
}

ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags, sockaddr* addr, socklen_t* alen) {
  if (n > buflen) __chk_fail();
  return recvfrom(fd, buf, n, flags, addr, alen);
}

}  // extern "C"
