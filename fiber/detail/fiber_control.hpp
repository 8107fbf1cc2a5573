// fiber_control.hpp — the fiber control block and the parker word it shares with OS threads.
//
// Concepts:
//   parker        — anything that can park: a fiber, or an OS thread (thread_parker). Its `word`
//                   carries the park protocol described in fiber/detail/park.hpp.
//   fiber_control — one per fiber, placed at the top of the fiber's own stack (no heap allocation
//                   per spawn, and the control block shares the stack's first touched page).
//   fiber_result<R> / fiber_task<Fn, R> — the typed parts: the callable and the result slot.
//
// Lifetime: `refs` starts at 2 — one for the running fiber, one for the join_handle. The fiber's
// reference is dropped by the *next* context after the fiber's final switch (a fiber never frees
// the stack it stands on); the handle's by join() or detach(). The last one returns the stack.
#pragma once

#include <fiber/detail/exec_context.hpp>
#include <fiber/detail/local_slot.hpp>
#include <fiber/detail/spinlock.hpp>
#include <fiber/detail/park.hpp>
#include <fiber/detail/wait_record.hpp>

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <tuple>
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
  wait_record wait;  // what it waits for (fiber/detail/wait_record.hpp)
};

// Where a fiber sits. Written only by the worker that owns it (informational, for debugging).
enum class fiber_state : std::uint8_t {
  created,   // spawned, not yet started: in a spawn queue, may be stolen by any worker
  ready,     // started, runnable: in its home worker's run queue or inbox
  running,   // on its home worker's CPU now
  parked,    // waiting for unpark / deadline / stop; in no queue
  finished,  // returned or threw; its result waits for join()
};

// What happens to an exception that escapes a fiber's function: stored for join() (spawn), or
// std::terminate after a report naming the fiber (fiber::thread / jthread, as std::thread does).
// A detached spawned fiber's exception always terminates: nobody can ever see it.
enum class on_uncaught : std::uint8_t { report_to_joiner, terminate };

// Work to run when a fiber (or an OS thread) ends, after its fiber_local values are destroyed:
// promise::set_value_at_thread_exit and its relatives. run() owns the action (it deletes it).
struct exit_action {
  virtual void run() noexcept = 0;
  exit_action* next = nullptr;

 protected:
  ~exit_action() = default;
};
// Registers `a` with the calling fiber, or with the calling OS thread outside any fiber.
void at_exit_of_current(exit_action* a) noexcept;
void run_exit_actions(exit_action*& list) noexcept;

struct fiber_control : parker {
  fiber_control() : parker(kind::fiber) {}
  fiber_control(const fiber_control&) = delete;
  fiber_control& operator=(const fiber_control&) = delete;
  virtual ~fiber_control() = default;

  // Runs the user's callable and stores its result or exception (never throws).
  virtual void invoke() noexcept = 0;

  exec_context ctx;
  fiber_control* next = nullptr;          // link in whichever single queue holds the fiber
  fiber_control* started_prev = nullptr;  // links in home->started_ (owner thread only): the
  fiber_control* started_next = nullptr;  // list `weft fibers` walks in gdb (tools/weft-gdb.py)
  worker* home = nullptr;                 // set when the fiber starts; it never changes afterwards
  stack_slot* stack = nullptr;
  std::uint64_t id = 0;
  std::size_t stack_size = 0;  // usable bytes, for diagnostics
  fiber_state state = fiber_state::created;
  std::atomic<int> refs{2};
  std::uint32_t epoch = 0;  // fork_epoch() when it was spawned: a parent's fiber never runs in a child
  on_uncaught uncaught = on_uncaught::report_to_joiner;
  std::string name;

  // join: guarded by join_lock
  spinlock join_lock;
  bool finished = false;
  bool detached = false;
  park_token joiner;
  std::exception_ptr error;

  // stop: created lazily (most fibers never use one), guarded by stop_lock. Created with it, one
  // callback lives as long as the fiber: a stop request sets own_stop_seen and ends the park whose
  // sequence is in own_stop_park. Waits that honour the fiber's own stop request
  // (park_until_own_stop, park.hpp) thus need no token copy and no callback registration of their
  // own: one store and one load per wait instead of a handful of locked operations.
  struct wake_on_stop {
    fiber_control* f;
    void operator()() const noexcept;
  };
  spinlock stop_lock;
  std::stop_source stop_src{std::nostopstate};
  std::atomic<bool> own_stop_seen{false};
  std::atomic<std::uint64_t> own_stop_park{0};                  // 0: no park to end
  std::optional<std::stop_callback<wake_on_stop>> own_stop_cb;  // destroyed first: it may still run
  std::stop_source& stop_source() noexcept;

  // Observability (fiber/debug.hpp). With WEFT_LATENCY_STATS=1 only: when the fiber last became
  // runnable and whether the reactor woke it (written by the waker before it queues the fiber),
  // when its current run began and its CPU time so far (written by its worker).
  // Timestamps are fast_ticks() (fiber/detail/fast_clock.hpp).
  std::uint64_t ready_tick = 0;
  bool woken_by_reactor = false;
  std::uint64_t run_start_tick = 0;
  std::atomic<std::uint64_t> cpu_ticks{0};

  std::vector<local_slot> locals;  // fiber_local<T> values, destroyed when the fiber ends
  void destroy_locals() noexcept;
  exit_action* exit_actions = nullptr;  // run after destroy_locals(); owner fiber only

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
void fiber_threw(fiber_control& f, const std::exception_ptr& e) noexcept;
// Prints "weft: uncaught exception in <who>: <what()>" and calls std::terminate.
[[noreturn]] void terminate_reporting(const std::string& who, const std::exception_ptr& e) noexcept;

// The callable and its arguments, decay-copied exactly as std::thread stores them (one move or
// copy per argument, std::reference_wrapper kept as is) and invoked once, with rvalues. With
// OfferStopToken (spawn, jthread) a callable invocable with a std::stop_token first receives the
// fiber's own token; without it (thread, async) it is called exactly as std::thread would call it.
// A member function taking the stop token after its object (`jthread(&X::run, &x)` with
// `void X::run(std::stop_token)`): libstdc++ accepts it and passes the token there.
template <class Fn, class... Args>
struct token_after_object : std::false_type {};
template <class Fn, class Obj, class... Rest>
struct token_after_object<Fn, Obj, Rest...>
    : std::bool_constant<std::is_member_function_pointer_v<Fn> &&
                         std::is_invocable_v<Fn, Obj, std::stop_token, Rest...>> {};

template <bool OfferStopToken, class Fn, class... Args>
struct bound_call {
  static constexpr bool takes_stop_token = OfferStopToken && std::is_invocable_v<Fn, std::stop_token, Args...>;
  static constexpr bool takes_stop_token_after_object = OfferStopToken && !takes_stop_token &&
                                                        !std::is_invocable_v<Fn, Args...> &&
                                                        token_after_object<Fn, Args...>::value;
  static_assert(takes_stop_token || takes_stop_token_after_object || std::is_invocable_v<Fn, Args...>,
                "weft: the callable cannot be invoked with these (decay-copied) arguments");

  static decltype(auto) call(Fn&& fn, Args&&... args) {
    if constexpr (takes_stop_token) {
      return std::invoke(std::move(fn), current_stop_token(), std::move(args)...);
    } else if constexpr (takes_stop_token_after_object) {
      return call_with_token_after_object(std::move(fn), std::move(args)...);
    } else {
      return std::invoke(std::move(fn), std::move(args)...);
    }
  }
  template <class Obj, class... Rest>
  static decltype(auto) call_with_token_after_object(Fn&& fn, Obj&& obj, Rest&&... rest) {
    return std::invoke(std::move(fn), std::forward<Obj>(obj), current_stop_token(), std::forward<Rest>(rest)...);
  }
  using result_type = decltype(call(std::declval<Fn>(), std::declval<Args>()...));

  template <class F, class... A>
  explicit bound_call(F&& f, A&&... a) : parts(std::forward<F>(f), std::forward<A>(a)...) {}

  result_type operator()() {
    return std::apply([](Fn&& fn, Args&&... args) -> result_type { return call(std::move(fn), std::move(args)...); },
                      std::move(parts));
  }

  std::tuple<Fn, Args...> parts;
};

template <class F, class... Args>
using bound_call_for = bound_call<false, std::decay_t<F>, std::decay_t<Args>...>;
template <class F, class... Args>
using stoppable_call_for = bound_call<true, std::decay_t<F>, std::decay_t<Args>...>;

// A call whose result nobody can see (fiber::thread, as std::thread discards it).
template <class Inner>
struct discard_result {
  template <class... A>
  explicit discard_result(A&&... a) : inner(std::forward<A>(a)...) {}
  void operator()() { (void)inner(); }
  Inner inner;
};

// The typed control block: the entry (constructed in place, never moved) and the result slot.
template <class Entry, class R>
struct fiber_task final : fiber_result<R> {
  template <class... A>
  explicit fiber_task(std::in_place_t, A&&... a) : fn_(std::in_place, std::forward<A>(a)...) {}
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
  std::optional<Entry> fn_;
};

// Spawning, split so templates stay thin: reserve a stack with room for a control block of
// `block_size` bytes at its top, construct the block there, then hand it to a runtime.
struct fiber_block {
  void* mem = nullptr;               // where the control block goes
  stack_slot* slot = nullptr;        // the stack it heads
  class runtime_core* rt = nullptr;  // the runtime it will run on
};
// rt null: the current runtime (the caller's worker's, or the default one). stack_size 0: the
// runtime's default. Throws std::system_error(ENOMEM) when no stack can be reserved.
fiber_block reserve_fiber_block(runtime_core* rt, std::size_t stack_size, std::size_t block_size,
                                std::size_t block_align);
void discard_fiber_block(const fiber_block& b) noexcept;  // constructing the control block threw
void launch(fiber_control* f, const fiber_block& b, std::string&& name, on_uncaught policy) noexcept;

// Join side.
void wait_finished(fiber_control* f);  // parks/blocks until f finished; throws on self-join
bool is_finished(fiber_control* f) noexcept;
void release(fiber_control* f) noexcept;  // drop one reference
void detach(fiber_control* f) noexcept;   // drop the handle's reference, remembering no one joins

fiber_control* current_fiber() noexcept;
parker* current_thread_parker() noexcept;  // the calling OS thread's parker (also on a worker)

}  // namespace fiber::detail
