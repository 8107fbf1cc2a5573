// dump_internal.hpp — the snapshot types shared by fiber::dump() (dump.cpp) and the deadlock
// reports (deadlock.cpp): what is copied while a fiber cannot move, and how it is printed after.
#pragma once

#include <fiber/detail/backtrace.hpp>
#include <fiber/detail/fiber_control.hpp>

#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace fiber::detail {

enum class owner_kind : std::uint8_t { none, fiber, thread, unknown };

// A wait record and what it names, read while the waiter cannot move.
struct wait_snapshot {
  wait_kind kind = wait_kind::none;
  const void* object = nullptr;
  std::uint64_t detail = 0;
  const char* via = nullptr;      // a string literal of hook/ (static storage)
  const char* op_name = nullptr;  // file_io: the operation (a string literal)
  std::int64_t for_ns = -1;       // how long it has waited (-1: unknown)
  std::int64_t left_ns = -1;      // time to its deadline (-1: none)
  owner_kind owner = owner_kind::none;
  const void* owner_ptr = nullptr;  // fiber_control* or thread parker
  std::size_t length = 0;           // channel: buffered values; shared_mutex: readers
  bool has_length = false;
  std::string text_arg;     // DNS host, connect target, socket peer, file path
  bool listening = false;   // a read wait on a listening socket (accept)
  bool connecting = false;  // a write wait on a socket not connected yet
};

enum class fiber_view_state : std::uint8_t { running, runnable, unstarted, parked, blocking };

struct fiber_snapshot {
  const fiber_control* ptr = nullptr;
  std::uint64_t id = 0;
  std::string name;
  fiber_view_state state = fiber_view_state::runnable;
  int worker = -1;
  wait_snapshot wait;
  raw_backtrace bt;
  bool bt_is_current = false;  // unwound from the caller's own stack (first frame is not a return address)
  const char* stack_lo = nullptr;
  std::size_t stack_size = 0;
  std::size_t stack_used = 0;  // filled after the pause (mincore)
  std::int64_t cpu_ns = -1;    // -1: not measured (WEFT_LATENCY_STATS unset)
};

struct thread_snapshot {
  const void* parker = nullptr;
  int tid = 0;
  std::string name;
  wait_snapshot wait;
};

struct worker_note {
  int index = 0;
  bool responding = true;
};

struct dump_doc {
  std::vector<fiber_snapshot> fibers;
  std::vector<thread_snapshot> threads;
  std::vector<worker_note> workers;
  std::int64_t pause_ns = 0;
  unsigned runtimes = 0;
};

// Reads `r` (and the objects it names: owners, channel lengths, socket peers, host names).
// `self` is the waiter's own parker. Only while the waiter cannot move.
void snapshot_wait(const wait_record& r, const void* self, wait_snapshot& out) noexcept;
// Copies a started fiber that cannot move (parked or ready on a paused worker, or deadlocked);
// `current`: it is the caller itself (its stack is unwound live).
void snapshot_started(fiber_control* f, int worker, bool current, fiber_snapshot& out);

// After the pause: stack usage, then printing.
void finish_snapshots(dump_doc& doc) noexcept;
std::string describe_wait(const wait_snapshot& w, const dump_doc* doc);
void print_text(std::FILE* out, const dump_doc& doc, symbolizer& sym, const char* title);
void print_json(std::FILE* out, const dump_doc& doc, symbolizer& sym);
std::string thread_name(int tid);
// Runs f on a plain thread's stack when called on a fiber (libdw's DWARF parsing needs far more
// stack than a fiber has); the calling worker waits — it has no pause to serve meanwhile.
template <class F>
void on_thread_stack(F&& f) {
  if (in_fiber()) {
    std::thread t(std::forward<F>(f));
    t.join();
  } else {
    f();
  }
}

// Pauses every worker, copies every fiber and waiting thread, releases (dump.cpp).
void collect_all(dump_doc& doc);
// A whole dump as text (takes the one-dump-at-a-time lock).
void dump_text(std::FILE* out, const char* title);

}  // namespace fiber::detail
