// file_io.hpp — one file system call that parks only the calling fiber: the one path behind
// fiber::fs (fs/fs.hpp) and the hook library's file calls (hook/file_hooks.cpp).
//
//   long n = fiber::fs::detail::file_call({.op = io_op::read, .fd = fd, .buf = p, .len = n, .offset = off});
//
// Where it runs:
// - on a fiber, on Linux, a read that is not O_DIRECT first tries preadv2(RWF_NOWAIT), which never
//   blocks and answers from the page cache (cheaper than the ring, even in batches);
// - then, on a fiber whose worker has a completion engine (io_uring): submitted to the worker's ring
//   (IORING_OP_READ/WRITE/READV/WRITEV/FSYNC/OPENAT/STATX), the fiber parks until the completion;
//   the calling fiber's stop token cancels it where the kernel can (the result is then -ECANCELED,
//   or what the kernel had done when the cancel came too late);
// - on any other fiber (epoll, kqueue): on the blocking pool (fiber::blocking's threads);
// - on a plain OS thread: the system call, blocking that thread.
// Results are the kernel's: >= 0, or -errno (short counts at end of file, EBADF, EISDIR, EINVAL for
// a misaligned O_DIRECT transfer, ...). A read or write at io_request::current_position uses and
// advances the file offset as read(2)/write(2) do; the caller serializes such calls on one
// descriptor when it needs them to see each other's offset (io_uring does not take the kernel's
// f_pos lock across an operation that goes asynchronous).
#pragma once

#include <fiber/detail/os/completion.hpp>

#include <cstdint>

// Linux: raw system calls (preadv2 with RWF_NOWAIT, statx, fstatfs magic numbers). Elsewhere, and on
// Linux with -DWEFT_PORTABLE_FILE_IO (how the portable branch is compiled and tested here): POSIX
// calls only — pread/pwrite/preadv/pwritev, fsync, openat, fstat for "statx" — and no page-cache try.
#if defined(__linux__) && !defined(WEFT_PORTABLE_FILE_IO)
#define WEFT_LINUX_FILE_IO 1
#endif

namespace fiber::fs::detail {

using fiber::detail::io_op;
using fiber::detail::io_request;

// r.hints for read/write/readv/writev:
//   hint_direct — the descriptor is O_DIRECT: a read is never tried with RWF_NOWAIT (a direct read
//     waits for the device even then), and a transfer at the file position runs on the blocking pool
//     (io_uring leaves f_pos alone when a direct transfer completes asynchronously);
//   hint_memory — the file lives in memory (tmpfs, ramfs): a transfer of up to 256 KiB is the system
//     call itself, a memory copy that never waits for a device (tmpfs has no RWF_NOWAIT);
//   hint_regular — a regular file: a read the page cache answered only in part goes on for the rest
//     (a count is short only at end of file). On a FIFO or a character device the part is the
//     answer, as read(2)'s would be.
// file_hints(fd) computes them once per descriptor (fcntl + fstatfs + fstat).
inline constexpr std::uint8_t hint_direct = 1;
inline constexpr std::uint8_t hint_memory = 2;
inline constexpr std::uint8_t hint_regular = 4;
std::uint8_t file_hints(int fd) noexcept;
// Runs `r` (read, write, readv, writev, fsync, fdatasync, openat, close, statx) as described above.
// `stopped` (optional) is set when a stop request ended it (result -ECANCELED). Without
// `honour_stop` the calling fiber's stop token is ignored (the hooks: POSIX file calls do not fail
// with EINTR).
long file_call(const io_request& r, bool* stopped = nullptr, bool honour_stop = true) noexcept;

// True when file_call on the calling fiber would use a completion engine (io_uring) for `op`.
bool file_call_in_kernel(io_op op) noexcept;

}  // namespace fiber::fs::detail
