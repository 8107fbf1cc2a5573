// poll_descriptor.hpp — per-socket wait state between fibers and the worker reactors (Go's pollDesc).
//
// Concepts: a *poll_descriptor* owns one non-blocking fd. It has one reader slot and one writer slot;
// each holds the fibers parked for that direction (any number: two readers of one socket both
// wait) and an *edge count*: how many readiness events the reactor has delivered for it. The backend is
// fiber::detail::poller (epoll, edge-triggered, on Linux; a kqueue or io_uring backend implements the
// same poller interface and nothing here changes).
//
// Readiness handshake (no lost edges): the reactor's on_io_ready() counts the edge and takes every
// waiter under the slot's spinlock, then unparks them. A caller reads the count (edges()) before
// the syscall that may say EAGAIN and hands it to wait(): if an edge came after it, wait() returns
// at once (retry the syscall); otherwise the caller links itself and parks. Both sides hold the
// same lock, so an edge after the syscall either is seen by the waiter or wakes it. Edges *before*
// the syscall do not count: the syscall has seen their data — so an edge that woke a reader, which
// then drained the socket, does not make its next read retry an EAGAIN (with a sticky "ready" bit
// it did: two wasted recv calls per message). A woken waiter always retries its syscall (one edge
// may serve several readers). Spurious wake-ups are harmless: callers always retry the syscall and
// wait again on EAGAIN. Callers without a count (wait() without `seen`) get the sticky semantics:
// any edge since the last wait that consumed one.
//
// Registration: the fd is added to the poller of the worker whose fiber first waits on it and stays
// there; events are handled on that worker and unpark() routes each wake-up to the waiter's own
// worker. epoll_ctl(ADD) reports the current readiness, so registering after EAGAIN loses nothing.
// Callers on plain OS threads never register: they wait in ::poll() (in slices of at most 50 ms so
// that a close() from another thread is noticed).
//
// Lifetime (why memory is never freed): an event fetched by epoll_wait on one worker may still be
// dispatched after another thread removed the fd. Descriptors therefore come from a type-stable pool
// and are recycled, never deleted; a stale event on a recycled descriptor is only a spurious wake-up.
// The fd itself is closed once the descriptor is closed *and* no operation is in flight (ops hold a
// reference through begin_op/end_op), so an fd number is never reused under a running syscall.
// The descriptor returns to the pool when, in addition, its owner (the socket object) released it.
#pragma once

#include <atomic>
#include <cstdint>
#include <fiber/detail/os/poller.hpp>
#include <fiber/detail/spinlock.hpp>
#include <sync/detail/wait_list.hpp>
#include <fiber/detail/park.hpp>
#include <system_error>

namespace fiber::net::detail {

enum class io_kind : std::uint8_t { read = 0, write = 1 };

class poll_descriptor final : public fiber::detail::io_handler {
 public:
  // Takes ownership of `fd` (non-blocking). With owns_fd = false the fd is never closed here (c-ares
  // sockets); it is only removed from the poller.
  static poll_descriptor* create(int fd, bool owns_fd = true);

  int fd() const noexcept { return fd_; }

  // Brackets every syscall on fd(): false (and nothing to end) once the descriptor is closed.
  bool begin_op() noexcept;
  void end_op() noexcept;

  // Between begin_op/end_op: waits until `kind` may be ready. Returns {} (retry the syscall),
  // timed_out, operation_canceled (the calling fiber's stop token) or bad_file_descriptor (closed).
  // `seen`: edges(kind) read before the syscall that failed with EAGAIN (see the header comment).
  std::error_code wait(io_kind kind, fiber::detail::clock::time_point deadline,
                       const std::uint32_t* seen = nullptr) noexcept;
  // Readiness events delivered so far for `kind` (wraps; only compared for equality).
  std::uint32_t edges(io_kind kind) const noexcept {
    return slots_[static_cast<int>(kind)].edges.load(std::memory_order_acquire);
  }

  // Idempotent, any thread: marks closed, wakes every waiter (they fail with bad_file_descriptor),
  // and closes the fd now or when the last in-flight operation ends.
  void close() noexcept;
  bool is_closed() const noexcept { return (state_.load(std::memory_order_acquire) & closed_bit) != 0; }

  // The owner is done with this object: close() and recycle once idle. The pointer is dead after.
  void release() noexcept;

  // Completion-mode operations (operation.cpp): `w` joins the waiters of `kind`, so that close()
  // wakes it (readiness events may too: spurious). False, and not linked, if already closed.
  bool link_waiter(io_kind kind, fiber::detail::waiter& w) noexcept;
  void unlink_waiter(io_kind kind, fiber::detail::waiter& w) noexcept;

  void on_io_ready(std::uint32_t events, int error) noexcept override;

  // Read hint for stream sockets (net/detail/operation.cpp): after a read that found the receive
  // buffer empty (EAGAIN, or a short TCP read), the next read can park first instead of trying a
  // syscall that would fail with EAGAIN, until the reactor reports new readiness. Data arriving after
  // that read raises an event (edge-triggered: every arrival), which moves the edge count past the
  // one read before its syscall, so nothing is missed; a stale view only costs the syscall the hint
  // would have saved. `seen`: edges(io_kind::read), read once before this check — the same value the
  // caller then waits with, so an edge between the check and the wait ends the wait.
  bool read_first_would_fail(std::uint32_t seen) const noexcept {
    const slot& s = slots_[static_cast<int>(io_kind::read)];
    const std::uint64_t d = s.drain.load(std::memory_order_acquire);
    return (d & 1) && !s.hung_up.load(std::memory_order_acquire) && static_cast<std::uint32_t>(d >> 1) == seen;
  }
  // After a stream read whose syscall started at edge count `seen`: `eagain`, or `short_read` (fewer
  // bytes than asked). A short read means "empty" only on TCP: a Unix stream read also stops early at
  // a message carrying descriptors or credentials, with more data queued behind it.
  void note_read(bool eagain, bool short_read,
                 std::uint32_t seen) noexcept;  // In a child of fork(): operations in flight belonged to the parent's
                                                // fibers, which are not here.
  void forget_parent_operations() noexcept;
  // The socket error a backend reported with an event (0 if none), cleared by the read: for
  // connect(), whose SO_ERROR a backend may have consumed while fetching the event.
  int take_reported_error() noexcept { return reported_error_.exchange(0, std::memory_order_acq_rel); }

 private:
  poll_descriptor() = default;
  ~poll_descriptor() = default;
  friend struct descriptor_pool;

  struct slot {
    fiber::detail::spinlock lock;
    fiber::detail::wait_list waiters;     // under lock: fibers parked for this direction
    std::atomic<std::uint32_t> edges{0};  // readiness events; written under lock, read without it
    std::uint32_t consumed = 0;           // under lock: `edges` when a wait() last returned on one
    // The read hint: bit 0, the last stream read found the buffer empty; above it, `edges` before
    // that read's syscall. One word, so that concurrent readers never see the halves of two notes.
    std::atomic<std::uint64_t> drain{0};
    // A hang-up or error was reported. A read that returns data does not consume a pending end of
    // stream (the next read returns 0), so an edge from before a short read may still have news:
    // the read hint stays off for good.
    std::atomic<bool> hung_up{false};
  };

  static constexpr std::uint64_t closed_bit = 1;      // no new operations
  static constexpr std::uint64_t tearing_bit = 2;     // someone is closing the fd
  static constexpr std::uint64_t fd_done_bit = 4;     // fd removed from the poller and closed
  static constexpr std::uint64_t owner_gone_bit = 8;  // release() was called
  static constexpr std::uint64_t recycled_bit = 16;   // back in the pool
  static constexpr std::uint64_t op_unit = 32;        // in-flight operations count above these bits

  bool short_read_drains() noexcept;  // a TCP socket (cached in short_read_drains_)
  std::error_code ensure_registered() noexcept;
  std::error_code wait_on_thread(io_kind kind, fiber::detail::clock::time_point deadline) noexcept;
  void wake(slot& s, bool edge) noexcept;
  void finish_if_idle() noexcept;
  void reset(int fd, bool owns_fd) noexcept;

  int fd_ = -1;  // written only while no other thread may use the descriptor (create)
  bool owns_fd_ = true;
  std::atomic<std::uint64_t> state_{0};
  std::atomic<fiber::detail::poller*> poller_{nullptr};  // where fd_ is registered, or null
  std::atomic<int> registering_{0};                      // 0 no, 1 in progress, 2 done
  std::atomic<int> reported_error_{0};                   // see take_reported_error()
  std::atomic<std::int8_t> short_read_drains_{-1};       // -1 not known yet, 0 no (not TCP), 1 yes
  std::atomic<std::uint32_t> registered_epoch_{0};       // fork epoch of the registration
  slot slots_[2];
  poll_descriptor* next_free_ = nullptr;  // pool link, under the pool lock
};

}  // namespace fiber::net::detail
