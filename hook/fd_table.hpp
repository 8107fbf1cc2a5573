// fd_table.hpp — what the hooks know about each file descriptor.
//
// Owns: one fd_entry per fd number (chunks of entries allocated on first touch and never freed, so
// a pointer to an entry stays valid for the life of the process). An entry is in one of these states:
//   unknown   — never seen, or closed: hooks pass straight through to libc;
//   plain     — seen on a fiber and not pollable (regular file, terminal, eventfd, ...), or one of
//               fds 0–2 first seen by a hook (shared with other processes: never switched to
//               O_NONBLOCK), or handed to stdio (make_plain): pass through — except regular files
//               on a fiber, whose reads, writes and syncs park only the fiber (file_hooks.cpp);
//   managed   — a socket or FIFO that hooks drive: the real fd is O_NONBLOCK, `app_nonblock` holds
//               the program's own view of O_NONBLOCK, `rcv_timeout`/`snd_timeout` its SO_RCVTIMEO /
//               SO_SNDTIMEO, `pd` the poll_descriptor (owns_fd = false) waits go through;
//   closing   — close() is tearing the entry down. For the program the number is already gone (Linux
//               takes it out of the descriptor table first thing in close), so every hooked call on
//               it fails with EBADF;
//   replacing — dup2()/dup3() onto the number, or make_plain, is tearing the entry down. The number
//               never stops naming a file (Linux swaps it atomically), so a hooked call waits until
//               the replacement is done and then acts on what the number names.
//
// Invariants:
// - Only the thread that CASes unknown -> initializing fills an entry; readers spin past
//   `initializing` (a few syscalls long).
// - Every blocking operation on a managed entry is counted in `ops` (begin/end); close() waits for
//   `ops` to drain after waking waiters and before the real close, so no fd number is used by a hook
//   after the kernel may have reused it, and poller deregistration happens on the still-open fd.
// - No hooked call reaches libc on a closing or replacing entry (refuse_if_closing, called by every
//   entry point that takes a descriptor, and by blocking_entry): the real fd is still open but
//   non-blocking and about to go, so libc's answer (EAGAIN on a descriptor the program left
//   blocking, data, success) would belong to a descriptor the program has already closed. A closing
//   entry refuses only while the number still names the file being closed (`closing_dev/ino`): once
//   the real close is done, an fd created by a call no hook sees may hold the number. poll/select
//   refuse (POLLNVAL/EBADF) but never wait for a replacement (see poll_hooks.cpp).
// - The drain is bounded, whatever other callers do: begin_op refuses a torn-down entry before
//   counting, so only operations that began before the mark hold `ops`, and each is either parked
//   (woken by the teardown) or one non-blocking syscall away from leaving. A refused call yields
//   first (on a fiber), so a closer sharing its worker runs even if the caller retries in a loop;
//   the closer's own wait yields too.
// - One blocking caller per direction at a time: `lock[read]`/`lock[write]` (fiber-aware timed
//   mutexes) serialize blocking operations of the same direction, so callers queue in order (as
//   they would in the kernel) instead of all waking on each readiness edge and racing for one
//   message. Threads blocked together in accept() therefore queue here instead of in the kernel.
// - Entries are reset by every hooked creation of an fd number (socket, accept, pipe, dup, ...) so a
//   descriptor closed behind our back (fclose, glibc internals) cannot leak its old state to a new one
//   created through a hook.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <net/detail/poll_descriptor.hpp>
#include <sync/mutex.hpp>

namespace weft::hook::detail {

enum class fd_state : std::uint8_t { unknown = 0, initializing, plain, managed, closing, replacing };

constexpr bool torn_down(fd_state s) noexcept {
  return s == fd_state::closing || s == fd_state::replacing;
}

struct fd_entry {
  std::atomic<fd_state> state{fd_state::unknown};
  std::atomic<bool> app_nonblock{false};
  std::atomic<bool> is_socket{false};
  std::atomic<std::int64_t> rcv_timeout_ns{0};  // 0: none
  std::atomic<std::int64_t> snd_timeout_ns{0};
  std::atomic<fiber::net::detail::poll_descriptor*> pd{nullptr};  // set whenever state == managed
  std::atomic<int> ops{0};
  // Non-zero: this fd was dup'd through a hook and shares its open file description (O_NONBLOCK,
  // socket timeouts) with every other managed entry carrying the same id.
  std::atomic<std::uint32_t> description{0};
  // While closing: the file the number named when close() marked it (st_dev, st_ino; 0 when not
  // closing). The real close happens before the entry becomes unknown, and an fd created by a call no
  // hook sees (open, eventfd, ...) may take the number in between: it is not the one being closed.
  std::atomic<std::uint64_t> closing_dev{0};
  std::atomic<std::uint64_t> closing_ino{0};
  // Plain entries seen on a fiber: a regular file (the file hooks serve it: hook/file_hooks.cpp) and
  // what fiber::fs needs to know about it (O_DIRECT, an in-memory file system: file_io.hpp's hints).
  // For a regular file, file_key names the file (st_dev, st_ino hashed): the calls that use the file
  // position (read, write, readv, writev) serialize on the position lock it picks while they run in
  // the kernel's ring (hook/file_hooks.cpp says why per file, not per number).
  std::atomic<bool> regular_file{false};
  std::atomic<std::uint8_t> file_hints{0};
  std::atomic<std::uint32_t> file_key{0};
  // file_flags_generation() when file_hints was last read from the kernel: F_SETFL through another
  // number (a duplicate: one open file description) may have changed O_DIRECT since.
  std::atomic<std::uint32_t> hints_generation{0};
  fiber::timed_mutex lock[2];
};

constexpr int max_fds = 1 << 20;

// Re-entrancy: while this thread runs the table's own machinery (allocating an entry or a
// poll_descriptor, waking waiters), a hooked call made from inside it (a sanitizer runtime probing
// memory with pipe(), an allocator, ...) must not touch the table again: it passes through to libc.
// Regions marked this way never park or yield.
bool reentered() noexcept;
class internal_scope {
 public:
  internal_scope() noexcept;
  ~internal_scope();
  internal_scope(const internal_scope&) = delete;
  internal_scope& operator=(const internal_scope&) = delete;
};

// The entry of `fd`, or null if fd is negative or too large. Never allocates when `create` is false.
fd_entry* entry_for(int fd, bool create) noexcept;

// On a fiber: the entry of `fd`, initialised on first sight (fstat: socket or FIFO -> managed and
// switched to O_NONBLOCK; anything else -> plain). Null if out of range or fstat fails.
fd_entry* lookup_or_init(int fd) noexcept;

// The managed entry of `fd` if it is managed right now (any thread), else null. Never initialises.
fd_entry* find_managed(int fd) noexcept;

// The entry of `fd` in whatever state it is (any thread), or null. Never initialises.
fd_entry* find_entry(int fd) noexcept;

// Records a descriptor the hooks just created on a fiber: managed, real fd made non-blocking,
// app view `app_nonblock`. is_socket selects socket-only features (timeouts).
void adopt(int fd, bool is_socket, bool app_nonblock) noexcept;

// `to` was just made a copy of managed `from` (dup, dup2, dup3, F_DUPFD): both carry one description
// id from now on, so a change of the shared state through either reaches the other.
void link_description(fd_entry& from, fd_entry& to) noexcept;
// Calls f(entry) for every other managed entry sharing e's open file description (none if e was
// never dup'd). Scans the table: only dup'd descriptors ever pay for it.
template <class F>
void for_each_sharing(const fd_entry& e, F&& f) noexcept;

// Hands `fd` back to the program untouched: if it was managed, waiters are woken (EBADF), the real
// O_NONBLOCK is set back to the program's view, and from now on every hook passes it straight
// through (state plain) until it is closed. For descriptors that code we cannot see will use with
// blocking semantics (a stdio FILE from fdopen, stdin/stdout of a child process).
void make_plain(int fd) noexcept;

// Forgets whatever we knew about fd number `fd` (it was just created by a call we did not manage).
void reset(int fd) noexcept;

// After a successful fcntl(F_SETFL, flags): a regular file's O_DIRECT hint follows the flags.
void note_file_flags(int fd, long flags) noexcept;
// Moves on each hooked F_SETFL of a regular file; file_entry() re-reads the hints of an entry that
// last read them at an older generation.
std::uint32_t file_flags_generation() noexcept;

enum class close_result { none, managed, already_closing };
// Tears down the entry for `fd` before close(): marks it closing, wakes every parked waiter (they
// fail with EBADF, or return their partial count), waits until in-flight operations left and
// releases the poll_descriptor while the fd is still open. `managed`: finish_close must follow the
// real close. `already_closing`: another thread is tearing it down right now (see refuse_if_closing).
close_result begin_close(int fd) noexcept;
// After the real close: makes the number unknown again.
void finish_close(int fd) noexcept;

// Replacing the file `fd` names (dup2/dup3 onto it, make_plain): claims the entry whatever its
// state — unknown and plain included, so no other call initialises the number from a half-done
// dup2 — as `replacing`, after waiting out another thread's teardown of it; if it was managed, tears
// it down as begin_close does (was_managed). Null (nothing claimed) if fd is out of range or this is
// the table's own machinery. finish_replace ends it: the entry becomes a copy of `like` (the held
// source of dup2; or the entry itself, when dup2 failed and the number kept its file), or unknown
// with `like` null.
fd_entry* begin_replace(int fd, bool& was_managed) noexcept;
void finish_replace(fd_entry& e, int fd, fd_entry* like) noexcept;

// The caller side of the close protocol, for a hooked call about to act on `fd`: returns true with
// errno = EBADF if a close() of fd is under way (the call fails, as it would after Linux's close),
// after yielding on a fiber so that a closer sharing the worker always gets to finish. If a
// replacement is under way, or the number already names another file (the real close is done, the
// entry not yet unknown), waits for that to finish and looks again. False: go on (fd is not being
// torn down, as far as the hooks know). Never initialises an entry.
bool refuse_if_closing(int fd) noexcept;
// True if a close() of fd is under way and the number still names the file being closed (or none):
// a call on it must fail as on a closed descriptor. Never waits.
bool being_closed(int fd) noexcept;
// Waits until no teardown of `fd` is under way (dup2 onto a number another thread is closing).
void await_teardown(int fd) noexcept;

// Brackets a hooked operation on a managed entry (see the invariants above). begin_op returns false
// (and the caller reports EBADF: the call counts as one the teardown woke) if the entry is no
// longer managed.
bool begin_op(fd_entry& e) noexcept;
void end_op(fd_entry& e) noexcept;

// ---- inline ----
fd_entry* chunk_at(int index) noexcept;  // null if never allocated
constexpr int fd_chunk_size = 1 << 10;

template <class F>
void for_each_sharing(const fd_entry& e, F&& f) noexcept {
  auto id = e.description.load(std::memory_order_acquire);
  if (id == 0) return;
  for (int c = 0; c < max_fds / fd_chunk_size; ++c) {
    fd_entry* chunk = chunk_at(c);
    if (!chunk) continue;
    for (int i = 0; i < fd_chunk_size; ++i) {
      fd_entry& o = chunk[i];
      if (&o != &e && o.description.load(std::memory_order_acquire) == id &&
          o.state.load(std::memory_order_acquire) == fd_state::managed)
        f(o);
    }
  }
}

}  // namespace weft::hook::detail
