// socket_hooks.cpp — descriptor lifecycle and mode: socket, socketpair, connect, accept, accept4,
// close, dup, dup2, dup3, fcntl/fcntl64, ioctl(FIONBIO), setsockopt/getsockopt, pipe, pipe2, fdopen.
//
// Owns: keeping hook/fd_table.hpp in step with the kernel's descriptor table.
// - Creation on a fiber (socket, socketpair, accept, pipe) adopts the new fd: the real fd becomes
//   O_NONBLOCK and the program's requested mode (SOCK_NONBLOCK / O_NONBLOCK) is remembered. Off a
//   fiber the call is libc's and the number's stale state, if any, is forgotten.
// - fcntl(F_GETFL) / F_SETFL and ioctl(FIONBIO) read and write the program's view of O_NONBLOCK on a
//   managed fd; the real fd stays non-blocking. Everything else passes through.
// - connect on a blocking managed socket: the non-blocking connect's EINPROGRESS is waited out
//   (until writable or SO_SNDTIMEO, which gives EINPROGRESS as Linux does), then SO_ERROR decides.
//   A non-blocking one keeps EINPROGRESS. accept waits like a read (SO_RCVTIMEO -> EAGAIN).
// - close/dup2/dup3 over a managed fd: waiters parked on it wake with EBADF, in-flight hooked calls
//   drain, then the real close/dup2 runs once: an fd number is never closed twice. Concurrent second
//   closes of the same number report EBADF. While close() runs, every call here on the number fails
//   with EBADF; while dup2/dup3 replaces it (the target entry stays `replacing` from before the real
//   call until the copy is recorded), calls — close included — wait and then act on the new file
//   (fd_table.hpp). dup2/dup3 onto a number another thread is closing waits for that close.
// - dup, F_DUPFD and dup2/dup3 hold the source entry (an operation on it) across the real call, so a
//   concurrent close of the source cannot complete before the copy inherited the program's view.
//   dup2/dup3 are serialised among themselves by one process-wide lock: each holds its source while
//   it waits for the target's in-flight calls to leave, and crossing dup2(a, b) / dup2(b, a) would
//   otherwise wait for each other forever.
// - dup/dup2/dup3/F_DUPFD: the copy shares the open file description, so it inherits the program's
//   O_NONBLOCK view and timeouts, and later F_SETFL/FIONBIO/SO_*TIMEO changes through any copy reach
//   every copy made through a hook (fd_entry::description).
// - Descriptors that leave for code no hook sees get their real mode back and are passed through
//   from then on (fd_table make_plain): fdopen's FILE (stdio calls glibc-internal read/write), and
//   dup2/dup3 onto 0–2 (standard streams, typically for a child process).
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <fiber/detail/fork_support.hpp>
#include <hook/blocking_io.hpp>
#include <hook/lock_check.hpp>
#include <hook/original.hpp>
#include <hook/posix_time.hpp>
#include <mutex>
#include <sync/mutex.hpp>

namespace wh = weft::hook::detail;
using wh::io_kind;

namespace {

// After a successful creation of `fd` by libc: adopt on a fiber, forget stale state elsewhere.
void created(int fd, bool is_socket, bool app_nonblock) noexcept {
  if (fiber::detail::in_fiber())
    wh::adopt(fd, is_socket, app_nonblock);
  else
    wh::reset(fd);
}

// The source of dup/dup2/dup3/F_DUPFD, held (an operation on its entry, if managed) from before the
// real call until copied() read its state: a close() of it waits for the copy to be recorded.
// refused(): it is being closed (errno = EBADF); a replacement of it was waited out.
class copy_source {
 public:
  explicit copy_source(int fd) noexcept {
    for (;;) {
      if (wh::refuse_if_closing(fd)) {
        refused_ = true;
        return;
      }
      e_ = wh::find_managed(fd);
      if (!e_ || wh::begin_op(*e_)) return;
      e_ = nullptr;  // torn down since the check: look again
    }
  }
  ~copy_source() {
    if (e_) wh::end_op(*e_);
  }
  copy_source(const copy_source&) = delete;
  copy_source& operator=(const copy_source&) = delete;
  bool refused() const noexcept { return refused_; }
  wh::fd_entry* entry() const noexcept { return e_; }

 private:
  wh::fd_entry* e_ = nullptr;
  bool refused_ = false;
};

// Serialises dup2/dup3 (see the header comment). Constant-initialised: usable before main.
constinit fiber::mutex replace_lock;

// fork (fiber/detail/fork_support.hpp): held across fork(), so no child inherits it mid-dup2.
void replace_lock_prepare() noexcept {
  replace_lock.lock();
}
void replace_lock_release() noexcept {
  replace_lock.unlock();
}
__attribute__((constructor)) void register_replace_lock_fork_handler() {
  fiber::detail::register_fork_handler(
      {.layer = 2, .prepare = replace_lock_prepare, .parent = replace_lock_release, .child = replace_lock_release});
}

// `to` now names the same open file description as `src` (the held source's entry; null if the
// hooks do not manage it).
void copied(wh::fd_entry* src, int to) noexcept {
  if (!src) {
    wh::reset(to);
    return;
  }
  bool sock = src->is_socket.load();
  bool nb = src->app_nonblock.load();
  auto rcv = src->rcv_timeout_ns.load();
  auto snd = src->snd_timeout_ns.load();
  wh::adopt(to, sock, true);  // the description is already non-blocking
  if (auto* e = wh::find_managed(to)) {
    e->app_nonblock.store(nb);
    e->rcv_timeout_ns.store(rcv);
    e->snd_timeout_ns.store(snd);
    wh::link_description(*src, *e);
  }
}

// The program changed its O_NONBLOCK view of `e`: every dup'd copy shares the description.
void set_app_nonblock(wh::fd_entry& e, bool on) noexcept {
  e.app_nonblock.store(on);
  wh::for_each_sharing(e, [on](wh::fd_entry& o) { o.app_nonblock.store(on); });
}

// The managed entry whose program view a mode change (F_SETFL, FIONBIO, SO_*TIMEO) updates, or null
// (pass through). `refused`: fd is being closed (errno = EBADF). A torn-down entry is never passed
// through: the program's flags must not reach a description the hooks keep non-blocking.
wh::fd_entry* entry_for_mode(int fd, bool& refused) noexcept {
  refused = false;
  for (;;) {
    wh::fd_entry* e = fiber::detail::in_fiber() ? wh::lookup_or_init(fd) : wh::find_entry(fd);
    if (!e) return nullptr;
    auto s = e->state.load();
    if (s == wh::fd_state::managed) return e;
    if (!wh::torn_down(s)) return nullptr;
    if ((refused = wh::refuse_if_closing(fd))) return nullptr;
  }
}

int do_fcntl(int fd, int cmd, long arg) {
  auto orig = WEFT_ORIG(fcntl);
  if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC && wh::refuse_if_closing(fd)) return -1;
  switch (cmd) {
    case F_GETFL: {
      int r = orig(fd, cmd);
      if (r >= 0) {
        if (auto* e = wh::find_managed(fd)) r = (r & ~O_NONBLOCK) | (e->app_nonblock.load() ? O_NONBLOCK : 0);
      }
      return r;
    }
    case F_SETFL: {
      bool refused = false;
      wh::fd_entry* e = entry_for_mode(fd, refused);
      if (refused) return -1;
      if (!e) {
        const int r = orig(fd, cmd, arg);
        if (r == 0) wh::note_file_flags(fd, arg);
        return r;
      }
      int r = orig(fd, cmd, arg | O_NONBLOCK);
      if (r == 0) set_app_nonblock(*e, (arg & O_NONBLOCK) != 0);
      return r;
    }
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      copy_source src(fd);
      if (src.refused()) return -1;
      int r = orig(fd, cmd, arg);
      if (r >= 0) copied(src.entry(), r);
      return r;
    }
    default:
      return orig(fd, cmd, arg);
  }
}

int do_dup2(int oldfd, int newfd, int flags, bool three) {
  auto real = [&] { return three ? WEFT_ORIG(dup3)(oldfd, newfd, flags) : WEFT_ORIG(dup2)(oldfd, newfd); };
  if (oldfd == newfd) {  // dup3: EINVAL whatever fd is; dup2: fd itself, or EBADF if it is not open
    if (!three && wh::refuse_if_closing(oldfd)) return -1;
    return real();
  }
  std::lock_guard serial(replace_lock);
  copy_source src(oldfd);
  if (src.refused()) return -1;
  // Only tear newfd down if the call can succeed (oldfd valid), as the kernel would.
  if (WEFT_ORIG(fcntl)(oldfd, F_GETFD) < 0) {
    errno = EBADF;
    return -1;
  }
  // newfd is `replacing` from here until its new state is recorded: a call on it meanwhile waits and
  // then sees the new file with the program's view of it, never a half-done copy.
  bool was_managed = false;
  wh::fd_entry* target = wh::begin_replace(newfd, was_managed);
  int r = real();
  int saved = errno;
  if (target) {
    // Success: a copy of the source (unknown if the hooks do not manage it). Failure: the number
    // still names its old file; if that was managed, it is again.
    wh::finish_replace(*target, newfd, r >= 0 ? src.entry() : (was_managed ? target : nullptr));
  } else if (r >= 0) {
    copied(src.entry(), r);
  }
  if (r >= 0) {
    // Standard streams go to code we cannot see (stdio, a child after exec): give them back their
    // real blocking mode. The description is shared, so oldfd's calls then block the worker.
    if (r <= 2 && wh::find_managed(r)) wh::make_plain(r);
  }
  errno = saved;
  return r;
}

int do_connect(int fd, const sockaddr* addr, socklen_t len) {
  bool refused = false;
  wh::fd_entry* e = wh::blocking_entry(fd, refused);
  if (refused) return -1;
  auto orig = WEFT_ORIG(connect);
  if (!e) return orig(fd, addr, len);
  auto deadline = wh::deadline_for(*e, io_kind::write);
  wh::op_scope scope(*e, io_kind::write, deadline);
  if (scope.error()) {
    errno = scope.error() == EAGAIN ? EINPROGRESS : scope.error();
    return -1;
  }
  int r = orig(fd, addr, len);
  while (r < 0 && errno == EAGAIN) {  // Unix-domain socket with a full backlog: wait and retry
    if (auto ec = scope.pd()->wait(io_kind::write, deadline)) {
      errno = wh::errno_for_wait(ec);
      return -1;
    }
    r = orig(fd, addr, len);
  }
  if (r == 0 || errno != EINPROGRESS) return r;
  // The same completion wait as net's connect (net/detail/operation.hpp).
  fiber::net::detail::failure why;
  const auto ec = fiber::net::detail::finish_connect(
      *scope.pd(), addr, len, deadline, /*connect_again=*/false,
      [](io_kind) noexcept { wh::note_blocking_call("connect"); }, &why);
  if (!ec) return 0;
  const int err = why == fiber::net::detail::failure::wait ? wh::errno_for_wait(ec) : ec.value();
  errno = err == EAGAIN ? EINPROGRESS : err;  // Linux: a blocking connect timed out by SO_SNDTIMEO
  return -1;
}

int do_accept(int fd, sockaddr* addr, socklen_t* len, int flags) {
  bool on_fiber = fiber::detail::in_fiber();
  // On a fiber the new fd is created non-blocking right away; its program view is `flags`.
  int real_flags = on_fiber ? (flags | SOCK_NONBLOCK) : flags;
  ssize_t r = wh::run_blocking(fd, io_kind::read, wh::mode::once, 1,
                               [&](size_t) -> ssize_t { return WEFT_ORIG(accept4)(fd, addr, len, real_flags); });
  if (r >= 0) created(static_cast<int>(r), true, (flags & SOCK_NONBLOCK) != 0);
  return static_cast<int>(r);
}

}  // namespace

extern "C" {

int socket(int domain, int type, int protocol) noexcept {
  int fd = WEFT_ORIG(socket)(domain, type, protocol);
  if (fd >= 0) created(fd, true, (type & SOCK_NONBLOCK) != 0);
  return fd;
}

int socketpair(int domain, int type, int protocol, int sv[2]) noexcept {
  int r = WEFT_ORIG(socketpair)(domain, type, protocol, sv);
  if (r == 0) {
    created(sv[0], true, (type & SOCK_NONBLOCK) != 0);
    created(sv[1], true, (type & SOCK_NONBLOCK) != 0);
  }
  return r;
}

int connect(int fd, const sockaddr* addr, socklen_t len) {
  return do_connect(fd, addr, len);
}

int accept(int fd, sockaddr* addr, socklen_t* len) {
  return do_accept(fd, addr, len, 0);
}

int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  return do_accept(fd, addr, len, flags);
}

int close(int fd) {
  wh::close_result closing;
  // Another close() of fd under way: EBADF, as Linux gives the loser of two racing closes. A dup2
  // onto fd under way: it completes first, and this closes the file it installed.
  while ((closing = wh::begin_close(fd)) == wh::close_result::already_closing)
    if (wh::refuse_if_closing(fd)) return -1;
  int r = WEFT_ORIG(close)(fd);
  int saved = errno;
  if (closing == wh::close_result::managed) wh::finish_close(fd);
  errno = saved;
  return r;
}

// stdio reads and writes a FILE's descriptor through glibc-internal calls no hook sees: the
// descriptor must really be in the mode the program thinks it is in.
FILE* fdopen(int fd, const char* mode) noexcept {
  if (wh::refuse_if_closing(fd)) return nullptr;
  if (wh::find_managed(fd)) wh::make_plain(fd);
  return WEFT_ORIG(fdopen)(fd, mode);
}

int dup(int fd) noexcept {
  copy_source src(fd);
  if (src.refused()) return -1;
  int r = WEFT_ORIG(dup)(fd);
  if (r >= 0) copied(src.entry(), r);
  return r;
}

int dup2(int oldfd, int newfd) noexcept {
  return do_dup2(oldfd, newfd, 0, false);
}

int dup3(int oldfd, int newfd, int flags) noexcept {
  return do_dup2(oldfd, newfd, flags, true);
}

int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  long arg = va_arg(ap, long);  // every fcntl argument (int or pointer) fits a long on LP64
  va_end(ap);
  return do_fcntl(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  long arg = va_arg(ap, long);
  va_end(ap);
  return do_fcntl(fd, cmd, arg);
}

int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (wh::refuse_if_closing(fd)) return -1;
  if (request == FIONBIO && arg != nullptr) {
    bool refused = false;
    wh::fd_entry* e = entry_for_mode(fd, refused);
    if (refused) return -1;
    if (e) {
      int on = 1;
      int r = WEFT_ORIG(ioctl)(fd, request, &on);
      if (r == 0) set_app_nonblock(*e, *static_cast<int*>(arg) != 0);
      return r;
    }
  }
  return WEFT_ORIG(ioctl)(fd, request, arg);
}

int setsockopt(int fd, int level, int name, const void* val, socklen_t len) noexcept {
  if (wh::refuse_if_closing(fd)) return -1;
  int r = WEFT_ORIG(setsockopt)(fd, level, name, val, len);
  if (r == 0 && level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO) && len >= sizeof(timeval)) {
    // Recorded where the hooks manage fd now; torn down since the call: nothing left to record it in
    // (and a replacement's new file does not have this timeout). Unknown: read on first sight.
    wh::fd_entry* e = fiber::detail::in_fiber() ? wh::lookup_or_init(fd) : wh::find_entry(fd);
    if (e && e->state.load() == wh::fd_state::managed) {
      auto ns = wh::timeval_ns(*static_cast<const timeval*>(val));
      auto field = name == SO_RCVTIMEO ? &wh::fd_entry::rcv_timeout_ns : &wh::fd_entry::snd_timeout_ns;
      (e->*field).store(ns);
      wh::for_each_sharing(*e, [&](wh::fd_entry& o) { (o.*field).store(ns); });  // one socket, many fds
    }
  }
  return r;
}

// The kernel keeps the real values (we pass every setsockopt through), so getsockopt is libc's.
int getsockopt(int fd, int level, int name, void* val, socklen_t* len) noexcept {
  if (wh::refuse_if_closing(fd)) return -1;
  return WEFT_ORIG(getsockopt)(fd, level, name, val, len);
}

int pipe(int fds[2]) noexcept {
  int r = WEFT_ORIG(pipe)(fds);
  if (r == 0) {
    created(fds[0], false, false);
    created(fds[1], false, false);
  }
  return r;
}

int pipe2(int fds[2], int flags) noexcept {
  int r = WEFT_ORIG(pipe2)(fds, flags);
  if (r == 0) {
    created(fds[0], false, (flags & O_NONBLOCK) != 0);
    created(fds[1], false, (flags & O_NONBLOCK) != 0);
  }
  return r;
}

}  // extern "C"
