// completion.hpp — the optional second half of the backend contract (os/poller.hpp): a backend that
// can run a whole operation in the kernel (io_uring) offers a completion_engine; readiness backends
// (epoll, kqueue) do not, and callers then run their readiness loop or the blocking pool.
//
//   if (completion_engine* e = poller.completions(); e && e->mode(io_op::recv) != op_mode::readiness) ...
//
// Rules every caller keeps (fiber/detail/completion_wait.hpp is the one caller that parks on them):
// - Owner thread only. submit() and cancel() are called on the thread that owns the poller (the
//   worker the calling fiber runs on): the submission queue has one producer. Completions are
//   dispatched on that same thread, from poller::wait().
// - The record outlives its completion. An io_completion (and every buffer, msghdr, iovec, path or
//   sockaddr the request points to) stays valid until on_complete() has run, whatever else happens:
//   a deadline, a stop request or a close only *asks* for cancellation (cancel()), and the caller
//   still waits for the completion, which then reports what the kernel did — the bytes of a read
//   that finished first, or -ECANCELED.
// - Submissions are batched: submit() only queues; the backend hands everything queued to the kernel
//   in its next wait() (one io_uring_enter per scheduling round), or earlier when its queue is full.
#pragma once

#include <cstdint>

namespace fiber::detail {

// Operation kinds a completion engine may run. Socket ones mirror net/detail/operation.hpp's kinds.
enum class io_op : std::uint8_t {
  recv,
  send,
  recvmsg,
  sendmsg,
  accept,
  connect,
  read,   // pread, or read at the file position when offset == current_position
  write,  // pwrite, or write at the file position
  readv,
  writev,
  fsync,
  fdatasync,
  openat,
  close,
  statx,
  count_,
};

// How a backend wants an operation kind run (measured per kind: docs/design.md §7).
enum class op_mode : std::uint8_t {
  readiness,   // the caller's readiness loop: syscall, wait for readiness on EAGAIN, retry
  hybrid,      // try the non-blocking syscall first; on EAGAIN submit it as a completion
  completion,  // submit at once; the fiber parks until the completion
};

struct io_request {
  static constexpr std::uint64_t current_position = ~std::uint64_t{0};

  io_op op = io_op::read;
  int fd = -1;                 // openat/statx: the directory fd (AT_FDCWD)
  void* buf = nullptr;         // recv/send/read/write: the bytes; readv/writev: iovec*; recvmsg/sendmsg:
                               // msghdr*; connect: const sockaddr*; statx: struct statx*; openat/statx: unused
  std::uint32_t len = 0;       // bytes; iovec count; sockaddr length (connect)
  int flags = 0;               // msg flags; accept4 flags; open flags; statx flags
  std::uint64_t offset = 0;    // read/write/readv/writev: the file offset or current_position
  const char* path = nullptr;  // openat/statx
  std::uint32_t mode = 0;      // openat: the creation mode; statx: the mask
  std::uint8_t hints = 0;      // what the caller knows about the file (fs/detail/file_io.hpp); engines ignore it
};

// Receives the result of one submitted request (res >= 0, or -errno as the kernel reports it).
struct io_completion {
  virtual void on_complete(int res, std::uint32_t flags) noexcept = 0;

 protected:
  ~io_completion() = default;
};

class completion_engine {
 public:
  virtual op_mode mode(io_op op) const noexcept = 0;
  // Queues `r`; `c` gets exactly one on_complete(). False (nothing queued) if the backend cannot take
  // it now (queue full and the kernel refuses more, shut down): the caller uses its other path.
  virtual bool submit(const io_request& r, io_completion& c) noexcept = 0;
  // Asks the kernel to cancel the request of `c` (IORING_OP_ASYNC_CANCEL). The completion still
  // comes. False if the cancellation could not be queued now (retry later).
  virtual bool cancel(io_completion& c) noexcept = 0;

 protected:
  ~completion_engine() = default;
};

}  // namespace fiber::detail
