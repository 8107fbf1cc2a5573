// poller.hpp — the backend contract: the one place a worker sleeps. I/O readiness, the worker's next
// timer and cross-thread wake-ups all end the same wait. Backends: poller_epoll.cpp (Linux),
// poller_kqueue.cpp (BSD/macOS; on Linux against libkqueue), poller_uring.cpp (Linux, io_uring).
// Nothing outside this folder knows which one runs; net/ registers descriptors, fiber/ waits.
//
// Every backend must provide (the way Go's runtime/netpoll.go lists it for its backends):
//   add(fd, h)       Registers fd for read *and* write readiness, edge-triggered in both
//                    directions: h->on_io_ready(bits) is called when fd *becomes* readable or
//                    writable (or errs / hangs up), not again while it stays so. Registration
//                    reports readiness that already exists: an fd readable at add() produces an
//                    event from the next wait(), so "syscall -> EAGAIN -> add -> wait" loses nothing.
//                    Events are dispatched on the thread that calls wait() (the owning worker).
//                    A backend that reads a socket's pending error to report it passes it along
//                    (the error may then be gone from SO_ERROR).
//   remove(fd)       Deregisters fd (any thread; must be called before the fd is closed). After it
//                    returns no *new* event is reported for fd, but an event that a concurrent wait()
//                    already fetched may still be dispatched: handlers live in type-stable memory and
//                    treat such a late event as a spurious wake-up (net/detail/poll_descriptor.hpp).
//   wait(timeout)    Sleeps until an event, a wake() or timeout_ns passes (-1: no limit, 0: poll).
//                    The caller passes its next timer's distance, so timers bound the sleep.
//                    Dispatches what it fetched and returns how many descriptor events that was.
//   wake()           Any thread: ends a wait() in progress, or makes the next one return at once.
//                    Wake-ups are coalesced (many wake() may end one wait()).
//   shut_down()      Releases the kernel objects; later add() fails with EBADF and remove() is a
//                    no-op (the object itself stays valid: descriptors may outlive their runtime).
//   abandon_after_fork()  In a child of fork(): forgets the kernel objects without changing them —
//                    they belong to the parent (epoll: close the child's copies of the descriptors,
//                    never EPOLL_CTL_DEL; kqueue: the child never inherited them). Then as shut_down.
// io_event bits are weft's own; each backend translates its native flags.
//
// Optionally a backend runs whole operations (os/completion.hpp): completions() returns its engine
// (io_uring), or null (epoll, kqueue). Completions in flight count in `registered`, so a worker with
// only completions outstanding still polls its poller every scheduling round.
//
// Wake protocol (no lost wake-up, no needless syscall): a worker about to sleep sets `sleeping`
// and re-checks its queues; a thread that queued work for it checks `sleeping` after queueing (both
// seq_cst) and only then pays for wake(). Either the sleeper sees the work or the waker sees the flag.
#pragma once

#include <fiber/runtime.hpp>
#include <fiber/detail/os/completion.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <system_error>

namespace fiber::detail {

// Readiness bits reported to io_handler (weft's values; backends translate).
enum io_event : std::uint32_t {
  io_readable = 1u << 0,
  io_writable = 1u << 1,
  io_error = 1u << 2,
  io_hangup = 1u << 3,       // both directions closed
  io_read_hangup = 1u << 4,  // the peer closed its sending side
  io_priority = 1u << 5,     // urgent data (POLLPRI; descriptor sets only, where the system has it)
};

// Receives readiness events for one registered descriptor (called on the poller's worker thread).
// `error` is the descriptor's pending socket error when the backend learned it while fetching the
// event (kqueue reports it in fflags; libkqueue even consumes SO_ERROR to do so), else 0.
struct io_handler {
  virtual void on_io_ready(std::uint32_t events, int error) noexcept = 0;

 protected:
  ~io_handler() = default;
};

class poller {
 public:
  virtual ~poller() = default;
  poller(const poller&) = delete;
  poller& operator=(const poller&) = delete;

  virtual fiber::io_backend backend() const noexcept = 0;
  virtual std::error_code add(int fd, io_handler* h) noexcept = 0;
  virtual void remove(int fd) noexcept = 0;
  virtual int wait(std::int64_t timeout_ns) noexcept = 0;
  virtual void wake() noexcept = 0;
  virtual void shut_down() noexcept = 0;
  virtual void abandon_after_fork() noexcept = 0;
  // The backend's completion engine (owner thread only), or null: readiness only.
  virtual completion_engine* completions() noexcept { return nullptr; }

  std::atomic<bool> sleeping{false};
  // Descriptors registered (and completions in flight), to skip polling when there are none.
  std::atomic<int> registered{0};

 protected:
  poller() = default;
};

// The backends this build has, and the one `automatic` means on this platform.
bool io_backend_built(fiber::io_backend b) noexcept;
fiber::io_backend platform_default_backend() noexcept;
// Creates a poller of backend `b`; throws std::system_error when the kernel refuses (the caller
// falls back to the platform default).
std::unique_ptr<poller> make_poller(fiber::io_backend b);
const char* io_backend_name(fiber::io_backend b) noexcept;

// Test hook: when >= 0, that many more io_uring rings start, and every one after them fails as a
// kernel refusal would (ENOMEM). -1 (the default) never fails. The environment knob
// WEFT_TEST_IO_URING_FAIL=1 makes every ring fail, for programs the test cannot reach into.
extern std::atomic<int> test_io_uring_rings_before_failure;

}  // namespace fiber::detail
