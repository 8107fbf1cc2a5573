// file_hooks.cpp — regular files on fibers (hook/file_io.hpp): pread/pwrite/preadv/pwritev (and their
// 64 names and fortified forms), fsync, fdatasync, and open/openat/creat (plain and fortified), which
// may wait for the disk. read/write/readv/writev route here from io_hooks.cpp.
//
// On a fiber each call is a page-cache try for reads (preadv2 RWF_NOWAIT, every backend), then one
// ring operation of the worker (io_uring) or one call on the blocking pool (epoll, kqueue), so only
// the fiber waits; off a fiber, and on descriptors that are not regular files, the call is libc's.
// A descriptor the new open() returns starts unknown in the fd table (as after any call that
// creates one), and is looked at on its first hooked use.
// Not covered (pass through): preadv2/pwritev2 with flags, sync_file_range, fallocate, ftruncate,
// close (a regular file's close does not wait for the device on local file systems), stdio (glibc
// reads a FILE through internal calls no hook sees).
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdarg>
#include <hook/file_io.hpp>
#include <hook/lock_check.hpp>
#include <hook/original.hpp>
#include <mutex>
#include <new>

namespace wh = weft::hook::detail;
using wh::io_op;
using wh::io_request;

extern "C" [[noreturn]] void __chk_fail(void);

namespace weft::hook::detail {

namespace {

constexpr std::size_t max_transfer = 0x7ffff000;  // Linux caps one transfer there too

const char* what(io_op op) noexcept {
  switch (op) {
    case io_op::read:
    case io_op::readv:
      return "a file read";
    case io_op::write:
    case io_op::writev:
      return "a file write";
    case io_op::fsync:
      return "fsync";
    case io_op::fdatasync:
      return "fdatasync";
    default:
      return "a file call";
  }
}

// Calls at the file position of one open file description must not overlap in the ring: it does
// not take the kernel's f_pos lock, so two reads in flight at once would both read from the same
// offset. Nor may another read come between the two halves of a partly cached read. Duplicated
// descriptors (dup, dup2, F_DUPFD, a fork's or SCM_RIGHTS' copies) share one description under
// different numbers, and nothing says which numbers share one. So the lock is picked by the file
// (device and inode, hashed into a fixed table): separate opens of the same file, each with its own
// offset, then serialize too, which is correct, only less parallel.
constexpr std::size_t position_lock_count = 1024;  // few unrelated files share a lock
fiber::mutex position_locks[position_lock_count];

fiber::mutex& position_lock(const fd_entry& e) noexcept {
  return position_locks[e.file_key.load(std::memory_order_relaxed) % position_lock_count];
}

ssize_t result(long r) noexcept {
  if (r >= 0) return static_cast<ssize_t>(r);
  errno = static_cast<int>(-r);
  return -1;
}

}  // namespace

void forget_position_locks() noexcept {
  for (auto& m : position_locks) new (&m) fiber::mutex();
}

fd_entry* file_entry(int fd) noexcept {
  if (!fiber::detail::in_fiber() || reentered()) return nullptr;
  fd_entry* e = lookup_or_init(fd);
  if (!e || e->state.load(std::memory_order_acquire) != fd_state::plain ||
      !e->regular_file.load(std::memory_order_acquire))
    return nullptr;
  if (const std::uint32_t gen = file_flags_generation(); e->hints_generation.load(std::memory_order_acquire) != gen) {
    // An F_SETFL somewhere: O_DIRECT may differ now. The generation is stored after the kernel was
    // asked, so an F_SETFL racing with this read leaves it behind and the next call asks again.
    e->file_hints.store(fiber::fs::detail::file_hints(fd), std::memory_order_relaxed);
    e->hints_generation.store(gen, std::memory_order_release);
  }
  return e;
}

ssize_t file_transfer(fd_entry& e, io_op op, int fd, void* buf, std::size_t len, std::uint64_t offset) noexcept {
  const bool vector = op == io_op::readv || op == io_op::writev;
  if (vector && len > static_cast<std::size_t>(INT_MAX)) return result(-EINVAL);
  const io_request r{.op = op,
                     .fd = fd,
                     .buf = buf,
                     .len = static_cast<std::uint32_t>(vector ? len : (len < max_transfer ? len : max_transfer)),
                     .offset = offset,
                     .hints = e.file_hints.load(std::memory_order_relaxed)};
  note_blocking_call(what(op));
  // Serialized at the file position: in the ring (which does not hold the kernel's f_pos lock), and
  // for a read on every backend, which may be two calls (the page cache's part, then the rest) that
  // another reader of the same description must not come between.
  if (offset == io_request::current_position && (op == io_op::read || fiber::fs::detail::file_call_in_kernel(op))) {
    std::lock_guard serial(position_lock(e));
    return result(fiber::fs::detail::file_call(r, nullptr, /*honour_stop=*/false));
  }
  return result(fiber::fs::detail::file_call(r, nullptr, /*honour_stop=*/false));
}

}  // namespace weft::hook::detail

namespace {

int sync_call(io_op op, int fd) {
  wh::fd_entry* e = wh::file_entry(fd);
  if (!e) return op == io_op::fsync ? WEFT_ORIG(fsync)(fd) : WEFT_ORIG(fdatasync)(fd);
  return static_cast<int>(wh::file_transfer(*e, op, fd, nullptr, 0, 0));
}

bool takes_mode(int flags) noexcept {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

// Under ThreadSanitizer, opens stay the kernel's: TSan's own symbolizer opens files from inside a race
// report while holding its thread registry, and an open that parked the fiber (and started an
// offload thread) would deadlock it.
#if defined(WEFT_TSAN)
constexpr bool opens_park = false;
#else
constexpr bool opens_park = true;
#endif

int open_at(int dirfd, const char* path, int flags, mode_t mode) {
  if (!opens_park || !fiber::detail::in_fiber() || wh::reentered()) return WEFT_ORIG(openat)(dirfd, path, flags, mode);
  wh::note_blocking_call("open");
  const long r = fiber::fs::detail::file_call(
      {.op = io_op::openat, .fd = dirfd, .flags = flags, .path = path, .mode = static_cast<std::uint32_t>(mode)},
      nullptr, /*honour_stop=*/false);
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  wh::reset(static_cast<int>(r));  // a new number: nothing we knew about it still holds
  return static_cast<int>(r);
}

}  // namespace

extern "C" {

ssize_t pread(int fd, void* buf, size_t n, off_t off) {
  wh::fd_entry* e = off >= 0 ? wh::file_entry(fd) : nullptr;  // a negative offset: libc's EINVAL
  if (!e) return WEFT_ORIG(pread)(fd, buf, n, off);
  return wh::file_transfer(*e, io_op::read, fd, buf, n, static_cast<std::uint64_t>(off));
}

ssize_t pread64(int fd, void* buf, size_t n, off64_t off) {
  return pread(fd, buf, n, off);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  wh::fd_entry* e = off >= 0 ? wh::file_entry(fd) : nullptr;
  if (!e) return WEFT_ORIG(pwrite)(fd, buf, n, off);
  return wh::file_transfer(*e, io_op::write, fd, const_cast<void*>(buf), n, static_cast<std::uint64_t>(off));
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) {
  return pwrite(fd, buf, n, off);
}

ssize_t preadv(int fd, const iovec* iov, int cnt, off_t off) {
  wh::fd_entry* e = off >= 0 && cnt >= 0 ? wh::file_entry(fd) : nullptr;
  if (!e) return WEFT_ORIG(preadv)(fd, iov, cnt, off);
  return wh::file_transfer(*e, io_op::readv, fd, const_cast<iovec*>(iov), static_cast<std::size_t>(cnt),
                           static_cast<std::uint64_t>(off));
}

ssize_t preadv64(int fd, const iovec* iov, int cnt, off64_t off) {
  return preadv(fd, iov, cnt, off);
}

ssize_t pwritev(int fd, const iovec* iov, int cnt, off_t off) {
  wh::fd_entry* e = off >= 0 && cnt >= 0 ? wh::file_entry(fd) : nullptr;
  if (!e) return WEFT_ORIG(pwritev)(fd, iov, cnt, off);
  return wh::file_transfer(*e, io_op::writev, fd, const_cast<iovec*>(iov), static_cast<std::size_t>(cnt),
                           static_cast<std::uint64_t>(off));
}

ssize_t pwritev64(int fd, const iovec* iov, int cnt, off64_t off) {
  return pwritev(fd, iov, cnt, off);
}

int fsync(int fd) {
  return sync_call(io_op::fsync, fd);
}

int fdatasync(int fd) {
  return sync_call(io_op::fdatasync, fd);
}

int open(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (takes_mode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  return open_at(AT_FDCWD, path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (takes_mode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  return open_at(AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
  mode_t mode = 0;
  if (takes_mode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  return open_at(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
  mode_t mode = 0;
  if (takes_mode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  return open_at(dirfd, path, flags, mode);
}

int creat(const char* path, mode_t mode) {
  return open_at(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char* path, mode_t mode) {
  return creat(path, mode);
}

// Fortified entry points (-D_FORTIFY_SOURCE): glibc's headers redirect open/openat/pread here.
int __open_2(const char* path, int flags) {
  if (takes_mode(flags)) __chk_fail();  // glibc: O_CREAT without a mode
  return open_at(AT_FDCWD, path, flags, 0);
}

int __open64_2(const char* path, int flags) {
  return __open_2(path, flags);
}

int __openat_2(int dirfd, const char* path, int flags) {
  if (takes_mode(flags)) __chk_fail();
  return open_at(dirfd, path, flags, 0);
}

int __openat64_2(int dirfd, const char* path, int flags) {
  return __openat_2(dirfd, path, flags);
}

ssize_t __pread_chk(int fd, void* buf, size_t n, off_t off, size_t buflen) {
  if (n > buflen) __chk_fail();
  return pread(fd, buf, n, off);
}

ssize_t __pread64_chk(int fd, void* buf, size_t n, off64_t off, size_t buflen) {
  if (n > buflen) __chk_fail();
  return pread(fd, buf, n, off);
}

}  // extern "C"
