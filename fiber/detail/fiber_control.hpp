// fiber_control.hpp — the fiber control block and the parker word it shares with OS threads.
//
// Concepts:
//   parker        — anything that can park: a fiber, or an OS thread (thread_parker). Its `word`
//                   carries the park protocol described in fiber/park.hpp.
//   fiber_control — one per fiber, placed at the top of the fiber's own stack (no heap allocation
//                   per spawn, and the control block shares the stack's first touched page).
//   fiber_result<R> / fiber_task<Fn, R> — the typed parts: the callable and the result slot.
//
// Lifetime: `refs` starts at 2 — one for the running fiber, one for the join_handle. The fiber's
// reference is dropped by the *next* context after the fiber's final switch (a fiber never frees
// the stack it stands on); the handle's by join() or detach(). The last one returns the stack.
#pragma once

#include <fiber/detail/context_switch.hpp>
#include <fiber/detail/spinlock.hpp>
#include <fiber/park.hpp>

#include <atomic>
#include <cstdint>
#include <exception>
#include <optional>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace fiber::detail {

class worker;
struct stack_slot;

// Low three bits of parker::word.
enum park_state : std::uint64_t {
  ps_running = 0,  // not parked (or consumed its last wake-up)
  ps_parking = 1,  // announced a park; may still be on its stack
  ps_parked = 2,   // fiber only: off its stack, waiting in no run queue
  ps_woken = 4,    // + wake_reason: a waker won; the parker has yet to consume it
};
constexpr std::uint64_t ps_mask = 7;

struct parker {
  enum class kind : std::uint8_t { fiber, thread };
  explicit parker(kind k) : kind_(k) {}
  std::atomic<std::uint64_t> word{0};
  const kind kind_;
};

// Where a fiber sits. Written only by the worker that owns it (informational, for debugging).
enum class fiber_state : std::uint8_t {
  created,   // spawned, not yet started: in a spawn queue, may be stolen by any worker
  ready,     // started, runnable: in its home worker's run queue or inbox
  running,   // on its home worker's CPU now
  parked,    // waiting for unpark / deadline / stop; in no queue
  finished,  // returned or threw; its result waits for join()
};

// Per-fiber slots of fiber_local<T> (see fiber_local.hpp).
struct local_slot {
  void* value = nullptr;
  void (*destroy)(void*) = nullptr;
};

struct fiber_control : parker {
  fiber_control() : parker(kind::fiber) {}
  fiber_control(const fiber_control&) = delete;
  fiber_control& operator=(const fiber_control&) = delete;
  virtual ~fiber_control() = default;

  // Runs the user's callable and stores its result or exception (never throws).
  virtual void invoke() noexcept = 0;

  exec_context ctx;
  fiber_control* next = nullptr;  // link in whichever single queue holds the fiber
  fiber_control* started_prev = nullptr;  // links in home->started_ (owner thread only): the
  fiber_control* started_next = nullptr;  // list `weft fibers` walks in gdb (tools/weft-gdb.py)
  worker* home = nullptr;         // set when the fiber starts; it never changes afterwards
  stack_slot* stack = nullptr;
  std::uint64_t id = 0;
  std::size_t stack_size = 0;     // usable bytes, for diagnostics
  fiber_state state = fiber_state::created;
  std::atomic<int> refs{2};
  std::string name;

  // join: guarded by join_lock
  spinlock join_lock;
  bool finished = false;
  bool detached = false;
  park_token joiner;
  std::exception_ptr error;

  // stop: created lazily (most fibers never use one), guarded by stop_lock
  spinlock stop_lock;
  std::stop_source stop_src{std::nostopstate};
  std::stop_source& stop_source() noexcept;

  std::vector<local_slot> locals;  // fiber_local<T> values, destroyed when the fiber ends
  void destroy_locals() noexcept;

  // "fiber 'name' (id N)" — used in every diagnostic that names a fiber.
  std::string describe() const;
};

template <class R>
struct fiber_result : fiber_control {
  std::optional<R> value;
  R take() { return std::move(*value); }
};
template <>
struct fiber_result<void> : fiber_control {
  void take() {}
};

// Called by the fiber's entry when the callable threw: stores it for join(), or ends the process
// when nobody can ever join.
void fiber_threw(fiber_control& f, std::exception_ptr e) noexcept;
// Prints "weft: uncaught exception in <who>: <what()>" and calls std::terminate.
[[noreturn]] void terminate_reporting(const std::string& who, const std::exception_ptr& e) noexcept;

template <class Fn, class R>
struct fiber_task final : fiber_result<R> {
  explicit fiber_task(Fn&& fn) : fn_(std::in_place, std::move(fn)) {}
  void invoke() noexcept override {
    try {
      if constexpr (std::is_void_v<R>) {
        (*fn_)();
      } else {
        this->value.emplace((*fn_)());
      }
      fn_.reset();  // captures die on the fiber, as a std::thread's do on its thread
    } catch (...) {
      fn_.reset();
      fiber_threw(*this, std::current_exception());
    }
  }
  std::optional<Fn> fn_;
};

// Spawning, split so templates stay thin: allocate a stack with room for a control block of
// `block_size` bytes at its top, construct it in place, then hand it to a runtime.
struct spawn_request {
  std::string name;
  std::size_t stack_size = 0;  // 0: the runtime's default
  class runtime_core* rt = nullptr;  // null: the current runtime (or the default one)
};
void* allocate_fiber_block(spawn_request& req, std::size_t block_size, std::size_t block_align,
                           stack_slot*& slot_out, runtime_core*& rt_out);
void launch(fiber_control* f, stack_slot* slot, runtime_core* rt, spawn_request& req);
void return_unused_slot(stack_slot* slot) noexcept;  // construction of the control block threw

// Join side.
void wait_finished(fiber_control* f);  // parks/blocks until f finished; throws on self-join
void release(fiber_control* f) noexcept;  // drop one reference
void detach(fiber_control* f) noexcept;   // drop the handle's reference, remembering no one joins

fiber_control* current_fiber() noexcept;

}  // namespace fiber::detail
