// worker.hpp — a worker: one OS thread that runs fibers, and its run queues.
//
// Concepts (in the spirit of Go's G/M/P): a *fiber* is a fiber_control; a *worker* is an OS
// thread with its own queues, timers, stack cache and poller; the *runtime* (runtime_core) owns
// the workers.
//
// Queues of a worker and who may touch them:
//   local_    — started fibers ready to run. Owner thread only, no lock.
//   inbox_    — started fibers made ready by *other* threads (lock-free MPSC stack). Drained by
//               the owner into local_. This is why a started fiber never migrates: every wake-up
//               of a fiber goes to its home worker.
//   spawn_q_  — fibers not yet started. Any thread may push; idle workers steal half of it.
//               Stealing only unstarted fibers keeps errno/thread_local caching safe (docs/design.md §4).
//
// Switching: fibers switch directly to the next fiber of local_ when there is one, and to the
// worker's scheduler context (the thread's own stack, running loop()) otherwise, or every
// `maintenance_interval` switches so that timers, the inbox and I/O are served even when fibers
// yield in a tight loop (fairness, docs/design.md §3). What the fiber we left still needs (requeue, commit its park,
// finish) is done by the context we reach, in after_switch(), once the old stack is no longer in
// use — the park/unpark handshake of park.hpp depends on it.
#pragma once

#include <fiber/detail/context_switch.hpp>
#include <fiber/detail/fiber_control.hpp>
#include <fiber/detail/os/poller.hpp>
#include <fiber/detail/spinlock.hpp>
#include <fiber/detail/stack_pool.hpp>
#include <fiber/detail/timer_heap.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace fiber::detail {

class runtime_core;

// Singly linked FIFO through fiber_control::next.
class fiber_fifo {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  void push_back(fiber_control* f) noexcept {
    f->next = nullptr;
    if (tail_) tail_->next = f; else head_ = f;
    tail_ = f;
    ++size_;
  }
  fiber_control* pop_front() noexcept {
    fiber_control* f = head_;
    if (!f) return nullptr;
    head_ = f->next;
    if (!head_) tail_ = nullptr;
    f->next = nullptr;
    --size_;
    return f;
  }

 private:
  fiber_control* head_ = nullptr;
  fiber_control* tail_ = nullptr;
  std::size_t size_ = 0;
};

// Unstarted fibers. The owner runs the newest first (depth-first: a spawn-then-join tree keeps
// few fibers alive, as Go's runnext does) and every eighth scheduler round the oldest (no
// starvation); thieves take the oldest half. A ring buffer under a spinlock.
class spawn_queue {
 public:
  void push(fiber_control* f);
  fiber_control* pop_newest() noexcept;
  fiber_control* pop_oldest() noexcept;
  // Moves about half of the queue (at least one, oldest first) to `out`; returns how many.
  std::size_t steal_half(fiber_fifo& out) noexcept;
  std::size_t approx_size() const noexcept { return size_.load(std::memory_order_relaxed); }

 private:
  fiber_control* take_front_locked() noexcept;
  spinlock lock_;
  std::vector<fiber_control*> ring_ = std::vector<fiber_control*>(64);  // size: a power of two
  std::size_t mask_ = 63;  // ring_.size() - 1: indices wrap with a mask, not a division
  std::size_t head_ = 0;   // index of the oldest
  std::size_t count_ = 0;
  std::atomic<std::size_t> size_{0};
};

class inbox {
 public:
  void push(fiber_control* f) noexcept;
  bool empty() const noexcept { return head_.load(std::memory_order_relaxed) == nullptr; }
  void drain_into(fiber_fifo& out) noexcept;  // owner only; keeps push order

 private:
  std::atomic<fiber_control*> head_{nullptr};
};

class worker {
 public:
  worker(runtime_core& rt, unsigned index, std::size_t default_slot_size, std::unique_ptr<poller> io);
  ~worker();

  static worker* current() noexcept { return tls_current; }  // the calling thread's worker, or null
  runtime_core& rt() const noexcept { return rt_; }
  unsigned index() const noexcept { return index_; }
  fiber_control* running() const noexcept { return current_; }

  // The OS thread's body: returns when the runtime stops.
  void thread_main(int pin_cpu);

  // --- called by the running fiber, on this worker's thread ---
  void yield_current();
  void park_current();              // commits the park prepared with prepare_park()
  [[noreturn]] void exit_current();  // the fiber's last act
  void after_switch(bctx::fcontext_t from) noexcept;

  // --- fork (fiber/detail/fork_support.hpp), in the child, single-threaded ---
  // Forgets every fiber of the parent except `survivor` (the fiber that called fork(), when it ran
  // on this worker), and replaces the poller with a fresh one of the same backend.
  void reset_after_fork(fiber_control* survivor);
  int pin_cpu() const noexcept { return pin_cpu_; }

  // --- any thread ---
  void make_ready(fiber_control* f) noexcept;  // a started fiber whose home is this worker
  void push_spawned(fiber_control* f) noexcept;
  bool wake_if_sleeping() noexcept;  // true if it was asleep

  timer_heap& timers() noexcept { return timers_; }
  // The worker's poller. On the owner thread, the first call after a fork makes the child's own
  // (reset_after_fork cannot: it runs inside the atfork child handlers, before other libraries —
  // libkqueue — have repaired their state).
  poller& io() noexcept {
    if (poller_renewal_due_.load(std::memory_order_relaxed) && tls_current == this) renew_poller();
    return *poller_.load(std::memory_order_acquire);
  }
  stack_cache& stacks() noexcept { return stacks_; }
  // Owner thread only: this worker's cache of free stacks of `slot_size` — the default size's, or
  // one of a few other sizes cached on first use (fibers spawned with a custom stack_size would
  // otherwise take shared locks twice per fiber); null when that many sizes are cached already.
  stack_cache* stacks_for(std::size_t slot_size);
  spawn_queue& spawned() noexcept { return spawn_q_; }
  // For the watchdog thread: switch counter and the fiber on the CPU (null when idle).
  std::uint32_t progress() const noexcept { return progress_.load(std::memory_order_relaxed); }
  fiber_control* on_cpu() const noexcept { return on_cpu_->load(std::memory_order_acquire); }
  // This worker's index in the process-wide table of running fibers (holder_running_elsewhere).
  std::uint32_t cpu_slot() const noexcept { return cpu_slot_; }
  bool has_ready_fibers() const noexcept { return !local_.empty() || !inbox_.empty(); }

 private:
  static inline thread_local worker* tls_current = nullptr;
  enum class after : std::uint8_t { nothing, requeue, commit_park, finish };
  static constexpr std::uint32_t maintenance_interval = 61;

  void loop();
  void run(fiber_control* f);
  fiber_control* next_runnable();
  void serve_timers_and_io();
  fiber_control* steal();
  bool has_work() const noexcept;
  void idle();
  void switch_away(fiber_control* self, after what, bool leaving_for_good);
  void finish(fiber_control* f) noexcept;
  void adopt(fiber_control* f) noexcept;  // f starts here: its home, and the started_ list

  runtime_core& rt_;
  const unsigned index_;

  // Owner thread only.
  exec_context sched_ctx_;
  fiber_control* current_ = nullptr;
  exec_context* prev_ctx_ = nullptr;
  fiber_control* prev_fiber_ = nullptr;
  after pending_ = after::nothing;
  std::uint32_t ticks_ = 0;
  std::vector<std::uint32_t> seen_progress_;  // per victim: its progress_ when we last looked
  std::uint32_t sched_rounds_ = 0;
  std::uint32_t steal_seed_;
  fiber_fifo local_;
  fiber_control* started_ = nullptr;  // every started, unfinished fiber of this worker (for gdb)
  timer_heap timers_;
  stack_cache stacks_;
  static constexpr std::size_t max_other_stack_sizes = 4;
  std::unique_ptr<stack_cache> other_stacks_[max_other_stack_sizes];

  // Shared. What other threads write (inbox_, spawn_q_) sits on cache lines of its own, away
  // from what the owner touches on every switch.
  alignas(64) std::atomic<std::uint32_t> progress_{0};  // bumped on every switch (owner writes, thieves read)
  // The running fiber (null: the scheduler), published on every switch for the watchdog and for
  // lock spinners. Points into a process-wide table that outlives workers, so a spinner that read
  // a lock holder's slot never touches freed memory; a worker beyond the table uses own_cpu_.
  std::uint32_t cpu_slot_ = holder::no_cpu;
  std::atomic<fiber_control*> own_cpu_{nullptr};
  std::atomic<fiber_control*>* on_cpu_ = &own_cpu_;
  alignas(64) inbox inbox_;
  alignas(64) spawn_queue spawn_q_;
  // Never freed: a socket registered here may be closed after the runtime is gone, and its
  // removal must find a live (shut down) poller. ~worker() only shuts it down.
  void renew_poller();
  alignas(64) std::atomic<poller*> poller_;
  std::atomic<bool> poller_renewal_due_{false};  // set in a fork child; cleared by the owner
  int pin_cpu_ = -1;  // the CPU thread_main pinned this worker to (-1: none)
};

}  // namespace fiber::detail
