// wait_record.hpp — "what I wait for": the per-parker record behind fiber::dump(), the deadlock
// check and tools/weft-gdb.py.
//
// Every parker (a fiber's control block, or an OS thread's parker) carries one wait_record. The
// waiting code fills it right before it parks and clears it after, through a wait_scope:
//
//   wait_scope ws(wait_kind::channel_recv, this, cap_, &channel_length<T>);
//   park_until(token, deadline);
//
// Cost: a thread-local lookup and a handful of relaxed stores (plain moves on x86-64 and arm64)
// plus one TSC read (fiber/detail/fast_clock.hpp) — only on paths that park, never on uncontended
// fast paths. Callers that already hold their park token pass its parker (arm_for): no TLS lookup.
//
// Nesting: the outermost scope wins. A wait that is implemented by a more generic one keeps its
// own meaning: a shared_mutex writer waiting in its writers' mutex stays "shared_mutex (write)",
// a connect waiting for writability stays "connect to <address>", a DNS lookup waiting on its
// sockets stays "DNS lookup of <host>".
//
// Readers (the dumper, the deadlock check, gdb) read the fields with relaxed loads: the dumper
// reads them only while the fiber's worker is paused (see fiber/debug.hpp), the deadlock check
// revalidates what it read (fiber/detail/deadlock.cpp).
#pragma once

#include <fiber/detail/deadline.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace fiber::detail {

// The numbering is part of the gdb interface (tools/weft-gdb.py keeps the same table).
enum class wait_kind : std::uint8_t {
  none = 0,
  mutex,                // object: mutex_core*; until: deadline of a timed lock
  shared_mutex_writer,  // object: shared_core*
  shared_mutex_reader,  // object: shared_core*
  condition_variable,   // object: the condition variable
  semaphore,            // object: semaphore_core*
  latch,                // object: latch
  barrier,              // object: barrier
  wait_group,           // object: wait_group
  future,               // object: the shared state
  channel_send,         // object: channel; detail: capacity; extra: length function
  channel_recv,         // same
  select,               // detail: number of channel cases
  join,                 // object: the joined fiber_control; detail: its id
  sleep,                // until: the wake-up time
  socket_read,          // detail: fd
  socket_write,         // detail: fd
  socket_connect,       // detail: fd; extra: the sockaddr being connected to
  dns,                  // extra: the host name (NUL-terminated)
  blocking,             // fiber::blocking: the job runs on an offload thread
  pthread_mutex,        // object: pthread_mutex_t* (hook library)
  pthread_cond,         // object: pthread_cond_t*; extra: its pthread_mutex_t*
  file_io,              // fiber::fs / the file hooks: detail: fd; extra: the operation's name
  other,                // a park without a record of its own (library code using park.hpp)
  count_
};

const char* wait_kind_name(wait_kind k) noexcept;

// A channel's current length, for the dump (locks the channel's guard briefly).
using length_fn = std::size_t (*)(const void* object) noexcept;

struct wait_record {
  std::atomic<wait_kind> kind{wait_kind::none};
  std::atomic<const void*> object{nullptr};
  std::atomic<std::uint64_t> detail{0};
  std::atomic<const void*> extra{nullptr};
  std::atomic<const char*> via{nullptr};  // hooked POSIX call this wait serves, if any
  std::atomic<std::uint64_t> since{0};    // fast_ticks() when the wait began (fast_clock.hpp)
  std::atomic<std::int64_t> until_ns{0};  // steady clock deadline (0: none)
};

// How long ago (ns) a record's `since` was taken; -1 if never.
std::int64_t wait_age_ns(std::uint64_t since) noexcept;

// The calling fiber's record, or the calling OS thread's.
wait_record& current_wait_record() noexcept;

// Names the hooked POSIX call ("a blocking read", "poll", ...) that the calling fiber's next wait
// serves; the label is cleared when that wait ends (hook/ calls it right before it waits).
void note_wait_via(const char* call) noexcept;

class wait_scope {
 public:
  wait_scope() noexcept = default;
  wait_scope(wait_kind k, const void* object, std::uint64_t detail = 0, const void* extra = nullptr,
             clock::time_point deadline = no_deadline) noexcept {
    arm(k, object, detail, extra, deadline);
  }
  wait_scope(const wait_scope&) = delete;
  wait_scope& operator=(const wait_scope&) = delete;
  ~wait_scope() {
    if (rec_) disarm();
  }

  // Fills the record unless an outer scope already did (then this scope does nothing). Once armed,
  // further arm() calls are no-ops: a loop that parks several times keeps its first `since`.
  void arm(wait_kind k, const void* object, std::uint64_t detail = 0, const void* extra = nullptr,
           clock::time_point deadline = no_deadline) noexcept {
    if (!tried_) arm_record(current_wait_record(), k, object, detail, extra, deadline);
  }
  // The same for a record the caller already knows (its park token's parker: `token.who->wait`).
  void arm_record(wait_record& r, wait_kind k, const void* object, std::uint64_t detail, const void* extra,
                  clock::time_point deadline) noexcept;
  bool armed() const noexcept { return rec_ != nullptr; }
  wait_record* record() const noexcept { return rec_; }

 private:
  void disarm() noexcept;
  wait_record* rec_ = nullptr;
  bool tried_ = false;
};

// The deadlock check (WEFT_DEADLOCK_CHECK=1): on the slow path of a contended lock or a join,
// after the waiter's record is armed and before it parks. Ends the process when the wait closes
// a cycle of untimed waits; prints a warning when the cycle contains a timed one.
extern bool deadlock_check_enabled;
void check_wait_cycle(wait_record& mine) noexcept;

}  // namespace fiber::detail
