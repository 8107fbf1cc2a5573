// file_io.cpp — file_call(): io_uring completion, the blocking pool, or the plain system call
// (fs/detail/file_io.hpp). System calls are made raw (syscall(2)), so that an interposer — weft's
// own hook library, whose read()/pread() lead here — never sees them.
#include <fs/detail/file_io.hpp>

#include <fiber/detail/wait_record.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#if defined(WEFT_LINUX_FILE_IO)
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#endif

#include <cerrno>
#include <fiber/blocking.hpp>
#include <fiber/detail/completion_wait.hpp>
#include <fiber/this_fiber.hpp>

namespace fiber::fs::detail {

namespace {

#if defined(WEFT_LINUX_FILE_IO)
constexpr long cur = -1;  // preadv2/pwritev2's "the file position"

long pos_of(const io_request& r) noexcept {
  return r.offset == io_request::current_position ? cur : static_cast<long>(r.offset);
}

// The system call itself, on the calling thread (EINTR retried; close never is: Linux closed it).
long direct(const io_request& r) noexcept {
  for (;;) {
    long res = -1;
    ::iovec one{r.buf, r.len};
    switch (r.op) {
      case io_op::read:
        res = ::syscall(SYS_preadv2, r.fd, &one, 1, pos_of(r), 0L, 0);
        break;
      case io_op::write:
        res = ::syscall(SYS_pwritev2, r.fd, &one, 1, pos_of(r), 0L, 0);
        break;
      case io_op::readv:
        res = ::syscall(SYS_preadv2, r.fd, r.buf, r.len, pos_of(r), 0L, 0);
        break;
      case io_op::writev:
        res = ::syscall(SYS_pwritev2, r.fd, r.buf, r.len, pos_of(r), 0L, 0);
        break;
      case io_op::fsync:
        res = ::syscall(SYS_fsync, r.fd);
        break;
      case io_op::fdatasync:
        res = ::syscall(SYS_fdatasync, r.fd);
        break;
      case io_op::openat:
        res = ::syscall(SYS_openat, r.fd, r.path, r.flags, r.mode);
        break;
      case io_op::close:
        res = ::syscall(SYS_close, r.fd);
        return res < 0 ? -errno : res;
      case io_op::statx:
        res = ::syscall(SYS_statx, r.fd, r.path, r.flags, r.mode, r.buf);
        break;
      default:
        return -EINVAL;
    }
    if (res >= 0) return res;
    if (errno != EINTR) return -errno;
  }
}

// A read that the page cache can answer without blocking: >= 0 bytes (possibly fewer than asked:
// the cached part), or -EAGAIN (not cached, or the kernel cannot tell without blocking).
long read_nowait(const io_request& r) noexcept {
  ::iovec one{r.buf, r.len};
  for (;;) {
    const long res = ::syscall(SYS_preadv2, r.fd, &one, 1, pos_of(r), 0L, RWF_NOWAIT);
    if (res >= 0) return res;
    if (errno == EINTR) continue;
    return errno == EOPNOTSUPP ? -EAGAIN : -errno;
  }
}
#else
// The POSIX call itself, on the calling thread (EINTR retried; close never is). No hook library
// exists off Linux, so plain libc calls reach the kernel.
long direct(const io_request& r) noexcept {
  const bool at_position = r.offset == io_request::current_position;
  const auto off = static_cast<off_t>(r.offset);
  for (;;) {
    long res = -1;
    switch (r.op) {
      case io_op::read:
        res = at_position ? ::read(r.fd, r.buf, r.len) : ::pread(r.fd, r.buf, r.len, off);
        break;
      case io_op::write:
        res = at_position ? ::write(r.fd, r.buf, r.len) : ::pwrite(r.fd, r.buf, r.len, off);
        break;
      case io_op::readv: {
        const auto* iov = static_cast<const ::iovec*>(r.buf);
        const int n = static_cast<int>(r.len);
        res = at_position ? ::readv(r.fd, iov, n) : ::preadv(r.fd, iov, n, off);
        break;
      }
      case io_op::writev: {
        const auto* iov = static_cast<const ::iovec*>(r.buf);
        const int n = static_cast<int>(r.len);
        res = at_position ? ::writev(r.fd, iov, n) : ::pwritev(r.fd, iov, n, off);
        break;
      }
      case io_op::fsync:
        res = ::fsync(r.fd);
        break;
      case io_op::fdatasync:
#if defined(__APPLE__)
        res = ::fcntl(r.fd, F_FULLFSYNC);  // macOS's fsync does not reach the medium; this does
#else
        res = ::fdatasync(r.fd);
#endif
        break;
      case io_op::openat:
        res = ::openat(r.fd, r.path, r.flags, static_cast<mode_t>(r.mode));
        break;
      case io_op::close:
        res = ::close(r.fd);
        return res < 0 ? -errno : res;
      case io_op::statx:  // here: fstat of r.fd into the struct stat at r.buf
        res = ::fstat(r.fd, static_cast<struct stat*>(r.buf));
        break;
      default:
        return -EINVAL;
    }
    if (res >= 0) return res;
    if (errno != EINTR) return -errno;
  }
}

long read_nowait(const io_request&) noexcept {
  return -EAGAIN;
}  // no RWF_NOWAIT: always the pool
#endif

long offloaded(const io_request& r) noexcept {
  struct job {
    const io_request* r;
    long res;
  } j{&r, 0};
  fiber::detail::run_offloaded([](void* p) { static_cast<job*>(p)->res = direct(*static_cast<job*>(p)->r); }, &j);
  return j.res;
}

const char* op_name(io_op op) noexcept {  // for fiber::dump(): "file read on fd 7 (/var/log/app.log)"
  switch (op) {
    case io_op::read:
      return "read";
    case io_op::write:
      return "write";
    case io_op::readv:
      return "readv";
    case io_op::writev:
      return "writev";
    case io_op::fsync:
      return "fsync";
    case io_op::fdatasync:
      return "fdatasync";
    case io_op::openat:
      return "open";
    case io_op::close:
      return "close";
    case io_op::statx:
      return "stat";
    default:
      return "I/O";
  }
}

// One call on a fiber: in the worker's ring when it has one, else on the blocking pool.
long on_fiber(const io_request& r, bool* stopped, bool honour_stop) noexcept {
  fiber::detail::wait_scope ws(fiber::detail::wait_kind::file_io, nullptr, static_cast<std::uint64_t>(r.fd),
                               op_name(r.op));
#if defined(WEFT_LINUX_FILE_IO)  // no ring off Linux (and the portable "statx" is an fstat no ring knows)
  // io_uring does not advance the file position after a direct transfer that completed
  // asynchronously (only inline completions update f_pos): those go to the pool, exact.
  const bool positionless_ring = r.offset == io_request::current_position && (r.hints & hint_direct);
  if (auto* engine = positionless_ring ? nullptr : fiber::detail::completion_engine_for(r.op)) {
    fiber::detail::completion_end end;
    bool submitted = false;
    const int res =
        fiber::detail::await_completion(*engine, r, fiber::detail::no_deadline, honour_stop, nullptr, end, &submitted);
    if (submitted) {
      if (end == fiber::detail::completion_end::stopped) {
        if (stopped) *stopped = true;
        return -ECANCELED;
      }
      return res;
    }
  }
#else
  (void)stopped;
  (void)honour_stop;
#endif
  // Calls that do not wait for a device (closing a file, statx of an open one) are not worth a trip
  // to the blocking pool.
  if (r.op == io_op::close || r.op == io_op::statx) return direct(r);
  return offloaded(r);
}

bool is_transfer(io_op op) noexcept {
  return op == io_op::read || op == io_op::write || op == io_op::readv || op == io_op::writev;
}

std::size_t transfer_bytes(const io_request& r) noexcept {
  if (r.op == io_op::read || r.op == io_op::write) return r.len;
  std::size_t n = 0;
  const auto* iov = static_cast<const ::iovec*>(r.buf);
  for (std::uint32_t i = 0; i < r.len && i < 1024; ++i) n += iov[i].iov_len;
  return r.len > 1024 ? ~std::size_t{0} : n;
}

constexpr std::size_t memory_direct_max = 256 * 1024;

}  // namespace

bool file_call_in_kernel(io_op op) noexcept {
#if defined(WEFT_LINUX_FILE_IO)
  return fiber::detail::completion_engine_for(op) != nullptr;
#else
  (void)op;
  return false;
#endif
}

std::uint8_t file_hints(int fd) noexcept {
  std::uint8_t h = 0;
#if defined(WEFT_LINUX_FILE_IO)
  const long fl = ::syscall(SYS_fcntl, fd, F_GETFL);
  if (fl >= 0 && (fl & O_DIRECT)) h |= hint_direct;
  struct statfs sfs {};
  if (::syscall(SYS_fstatfs, fd, &sfs) == 0 && (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC))
    h |= hint_memory;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) h |= hint_regular;  // not hooked
#elif defined(O_DIRECT)
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0 && (fl & O_DIRECT)) h |= hint_direct;
#else
  (void)fd;
#endif
  return h;
}

namespace {

// A call answered without parking (tmpfs, the page cache) is no scheduling point: a loop of them
// would starve the worker's other fibers, its timers and its sockets. Every 16th such call on a
// worker yields.
long answered_at_once(long result) noexcept {
  thread_local unsigned without_park = 0;
  if (++without_park % 16 == 0) fiber::this_fiber::yield();
  return result;
}

}  // namespace

long file_call(const io_request& r, bool* stopped, bool honour_stop) noexcept {
  if (stopped) *stopped = false;
  if (!fiber::detail::in_fiber()) return direct(r);
  if ((r.hints & hint_memory) && is_transfer(r.op) && transfer_bytes(r) <= memory_direct_max)
    return answered_at_once(direct(r));
  // Reads try the page cache first, on every backend: a cached 4 KiB preadv2(RWF_NOWAIT) costs
  // ~0.96 µs here, the same read through the ring ~0.97 µs in batches of 64 and ~1.24 µs alone
  // (bench/file_read_floor), and the fiber does not park.
  if (r.op == io_op::read && !(r.hints & hint_direct)) {
    const long got = read_nowait(r);
    if (got != -EAGAIN) {
      if (got <= 0 || static_cast<std::uint32_t>(got) == r.len || !(r.hints & hint_regular))
        return answered_at_once(got);  // all of it, end of file, or what a FIFO holds: read(2)'s answer
      // A regular file, partly cached: the rest as one more call, so that the count is short only at
      // end of file.
      io_request rest = r;
      rest.buf = static_cast<char*>(r.buf) + got;
      rest.len = r.len - static_cast<std::uint32_t>(got);
      if (r.offset != io_request::current_position) rest.offset = r.offset + static_cast<std::uint64_t>(got);
      const long more = on_fiber(rest, stopped, honour_stop);
      return more < 0 ? got : got + more;
    }
  }
  return on_fiber(r, stopped, honour_stop);
}

}  // namespace fiber::fs::detail
