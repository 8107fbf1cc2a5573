// completion_wait.hpp — runs one request on the calling fiber's completion engine (os/completion.hpp)
// and parks the fiber, not the worker, until the kernel reports it. Used by net/ (socket operations)
// and fs/ (file operations) — the one place a completion is waited for.
//
//   if (auto* e = fiber::detail::completion_engine_for(io_op::recv)) {
//     completion_end end;
//     int res = await_completion(*e, {.op = io_op::recv, .fd = fd, .buf = p, .len = n}, deadline, true, nullptr, end);
//   }
//
// Exactness: the record lives on the fiber's stack and the call never returns before the completion
// has been reaped, so buffers stay valid for as long as the kernel may write them. A deadline, a stop
// request or a watcher (a close(), net/) only cancels (IORING_OP_ASYNC_CANCEL); the result is then the
// kernel's: the bytes of an operation that completed first (end == completed, nothing lost), or
// -ECANCELED/-EINTR with `end` saying why the wait was cut short.
#pragma once

#include <fiber/detail/deadline.hpp>
#include <fiber/detail/os/completion.hpp>
#include <fiber/detail/park.hpp>

#include <stop_token>

namespace fiber::detail {

// The engine of the calling fiber's worker, if it runs `op` in a mode other than readiness; null on
// plain threads, on readiness backends (epoll, kqueue), or when the backend runs `op` by readiness.
completion_engine* completion_engine_for(io_op op) noexcept;

// Lets another thread end the wait early (net: close() of the descriptor).
struct completion_watch {
  // True once whoever watches wants the wait over (the descriptor is closed).
  virtual bool over() const noexcept = 0;
  // Before each park: make `t` findable by whoever may end the wait; false if it is over already.
  virtual bool publish(park_token t) noexcept = 0;
  // After each park (also when publish returned false): undo publish.
  virtual void withdraw() noexcept = 0;

 protected:
  ~completion_watch() = default;
};

enum class completion_end : unsigned char { completed, timed_out, stopped, watched };

// Submits `r` and parks until its completion: returns the kernel's result (>= 0 or -errno). Returns
// -EAGAIN with `submitted` false if the engine could not take it (use the other path). With
// `own_stop`, a stop request on the calling fiber ends the wait (park_until_own_stop).
int await_completion(completion_engine& e, const io_request& r, clock::time_point deadline, bool own_stop,
                     completion_watch* watch, completion_end& end, bool* submitted = nullptr) noexcept;

}  // namespace fiber::detail
