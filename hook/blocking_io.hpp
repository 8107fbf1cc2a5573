// blocking_io.hpp — the one loop behind every hooked call that may block on a descriptor.
//
// Owns nothing; it runs an operation against a descriptor's fd_entry:
// - being closed (fd_table.hpp's close protocol): fails with EBADF without reaching libc, whatever
//   the program's mode; being replaced by dup2: waits for that, then acts on the new file;
// - not managed (unknown/plain fd, or off a fiber an fd never driven by a fiber), or the program
//   made it non-blocking: the operation runs once, exactly as libc would;
// - managed and blocking in the program's view: the operation runs on the (really non-blocking) fd;
//   on EAGAIN the caller waits on the entry's poll_descriptor (a fiber parks, a plain thread polls)
//   until readiness, the SO_RCVTIMEO/SO_SNDTIMEO deadline (-> EAGAIN, as POSIX says), a close of the
//   fd (-> EBADF) or a stop request on the fiber (-> EINTR), then retries.
// `mode::all` continues after partial progress until `total` bytes are done (blocking write/send
// semantics on stream sockets and pipes; MSG_WAITALL reads), returning the partial count if an error
// or timeout comes after some progress. errno is set only on failure and always to what libc sets.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <chrono>
#include <fiber/detail/park.hpp>
#include <hook/fd_table.hpp>
#include <hook/lock_check.hpp>
#include <net/detail/operation.hpp>

namespace weft::hook::detail {

using fiber::net::detail::io_kind;

enum class mode { once, all, all_until_eof };

// The entry a hooked call should drive, or null to pass straight through — unless `refused` is set:
// fd is being closed and the call fails with EBADF (errno set). A torn-down entry is never passed
// through: its real fd is non-blocking whatever the program asked for.
inline fd_entry* blocking_entry(int fd, bool& refused) noexcept {
  refused = false;
  for (;;) {
    fd_entry* e = fiber::detail::in_fiber() ? lookup_or_init(fd) : find_entry(fd);
    if (!e) return nullptr;
    auto s = e->state.load(std::memory_order_acquire);
    if (torn_down(s)) {
      if ((refused = refuse_if_closing(fd))) return nullptr;
      continue;  // replaced (or closed) meanwhile: look at what the number names now
    }
    if (s != fd_state::managed || e->app_nonblock.load(std::memory_order_acquire)) return nullptr;
    return e;
  }
}

// A call that never waits (MSG_DONTWAIT, arguments libc rejects) still honours the close protocol.
template <class Op>
auto run_once(int fd, Op&& op) -> decltype(op()) {
  if (refuse_if_closing(fd)) return -1;
  return op();
}

inline fiber::detail::clock::time_point deadline_for(const fd_entry& e, io_kind kind) noexcept {
  auto ns = (kind == io_kind::read ? e.rcv_timeout_ns : e.snd_timeout_ns).load(std::memory_order_relaxed);
  if (ns <= 0) return fiber::detail::no_deadline;  // no SO_*TIMEO
  return fiber::detail::deadline_after_ns(ns);
}

inline int errno_for_wait(const std::error_code& ec) noexcept {
  if (ec == std::errc::timed_out) return EAGAIN;
  if (ec == std::errc::bad_file_descriptor) return EBADF;
  if (ec == std::errc::operation_canceled) return EINTR;
  return ec.value() ? ec.value() : EIO;
}

// Serialises waiters of one direction and brackets the fd; returns false with errno set on failure.
// With `try_only`, a direction another caller is waiting on fails at once with EAGAIN.
class op_scope {
 public:
  op_scope(fd_entry& e, io_kind kind, fiber::detail::clock::time_point deadline, bool try_only = false) noexcept
      : e_(e), kind_(kind) {
    if (!begin_op(e_)) {
      err_ = EBADF;
      return;
    }
    auto& m = e_.lock[static_cast<int>(kind_)];
    if (try_only) {
      if (!m.try_lock()) {
        end_op(e_);
        err_ = EAGAIN;
        return;
      }
    } else if (deadline == fiber::detail::no_deadline) {
      m.lock();
    } else if (!m.try_lock_until(deadline)) {
      end_op(e_);
      err_ = EAGAIN;
      return;
    }
    pd_ = e_.pd.load(std::memory_order_acquire);
    if (!pd_ || !pd_->begin_op()) {
      m.unlock();
      end_op(e_);
      pd_ = nullptr;
      err_ = EBADF;
      return;
    }
  }
  ~op_scope() {
    if (!pd_) return;
    pd_->end_op();
    e_.lock[static_cast<int>(kind_)].unlock();
    end_op(e_);
  }
  op_scope(const op_scope&) = delete;
  op_scope& operator=(const op_scope&) = delete;
  int error() const noexcept { return err_; }
  fiber::net::detail::poll_descriptor* pd() const noexcept { return pd_; }

 private:
  fd_entry& e_;
  io_kind kind_;
  fiber::net::detail::poll_descriptor* pd_ = nullptr;
  int err_ = 0;
};

// The lock detector's look before a blocking read or write parks its fiber.
inline void note_park(io_kind kind) noexcept {
  note_blocking_call(kind == io_kind::read ? "a blocking read" : "a blocking write");
}

// `op(done)` performs one non-blocking attempt starting `done` bytes in; returns >= 0 or -1/errno.
template <class Op>
ssize_t run_blocking(int fd, io_kind kind, mode m, size_t total, Op&& op) {
  bool refused = false;
  fd_entry* e = blocking_entry(fd, refused);
  if (refused) return -1;
  if (!e) return op(size_t{0});
  auto deadline = deadline_for(*e, kind);
  int err = 0;
  size_t done = 0;
  {
    op_scope scope(*e, kind, deadline);
    if (scope.error()) {
      errno = scope.error();
      return -1;
    }
    // Each attempt goes through net's one operation loop (net/detail/operation.hpp), which waits
    // on EAGAIN; this loop only adds the partial-progress accounting of blocking writes.
    struct attempt_state {
      Op* op;
      size_t done;
    } state{&op, 0};
    const fiber::net::detail::operation oper{.kind = fiber::net::detail::op_kind::custom,
                                             .attempt = [](int, void* ctx) noexcept -> long {
                                               auto* s = static_cast<attempt_state*>(ctx);
                                               return static_cast<long>((*s->op)(s->done));
                                             },
                                             .ctx = &state,
                                             .custom_direction = kind};
    for (;;) {
      std::error_code ec;
      fiber::net::detail::failure why;
      const ssize_t r = fiber::net::detail::perform(*scope.pd(), oper, deadline, ec, note_park, &why);
      if (ec) {
        err = why == fiber::net::detail::failure::wait ? errno_for_wait(ec) : ec.value();
        break;
      }
      if (r > 0 || (r == 0 && total != 0 && m != mode::all_until_eof)) {
        if (m == mode::once) return r;
        done += static_cast<size_t>(r);
        state.done = done;
        if (done >= total) break;
        if (r == 0) break;  // mode::all on a stream that accepted nothing: report progress
        continue;
      }
      break;  // EOF (or a zero-length request)
    }
  }
  if (done > 0 || err == 0) return static_cast<ssize_t>(done);
  errno = err;
  return -1;
}

}  // namespace weft::hook::detail
