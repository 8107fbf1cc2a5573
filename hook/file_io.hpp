// file_io.hpp — hooked calls on regular files, on a fiber: they park only the fiber, through the one
// file path of fiber::fs (fs/detail/file_io.hpp: the worker's io_uring ring, else the blocking pool).
//
//   if (fd_entry* f = file_entry(fd)) return file_transfer(*f, io_op::read, fd, buf, n, io_request::current_position);
//
// POSIX exact: results and errno are the kernel's (short counts only at end of file, EINVAL for a
// misaligned O_DIRECT transfer, ...); a call at the file position uses and advances it as the kernel
// does — while such calls run in the ring (which does not hold the kernel's f_pos lock across an
// operation that waits), a position lock picked by the file (device, inode) serializes them, so
// fibers sharing a descriptor, or duplicates of it, read disjoint ranges; O_APPEND writes append atomically (the kernel
// does it under the inode lock). A stop request does not interrupt them (POSIX file calls do not fail with EINTR). Off
// a fiber, and for anything but a regular file, callers pass through as before.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <fs/detail/file_io.hpp>
#include <hook/fd_table.hpp>

namespace weft::hook::detail {

using fiber::fs::detail::io_op;
using fiber::fs::detail::io_request;

// On a fiber: the (plain) entry of `fd` when it names a regular file; null otherwise.
fd_entry* file_entry(int fd) noexcept;

// In a child of fork(): the position locks may be held by parent fibers that do not exist here.
void forget_position_locks() noexcept;

// One read/write (buf, len) or readv/writev (buf = iovec*, len = count) at `offset` or
// io_request::current_position: >= 0, or -1 with errno.
ssize_t file_transfer(fd_entry& e, io_op op, int fd, void* buf, std::size_t len, std::uint64_t offset) noexcept;

}  // namespace weft::hook::detail
