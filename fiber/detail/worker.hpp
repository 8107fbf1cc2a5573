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
//   spawn_q_  — fibers not yet started. Any thread may push; idle workers steal half of it, and so
//               does a busy worker holding none (take_unstarted_share). Stealing only unstarted
//               fibers keeps errno/thread_local caching safe (docs/design.md §4).
//
// Switching: a fiber that parks or ends with its last-spawned fiber still queued switches to that
// one (run_next_, as Go's runnext). Otherwise fibers switch directly to the next fiber of local_
// when there is one (a yield by the hand_off path), and to the worker's scheduler context (the
// thread's own stack, running loop()) when there is none, or every `maintenance_interval`
// switches, so that timers, the inbox and I/O are served even when fibers yield in a tight loop
// (fairness, docs/design.md §3). What the fiber we left still needs (requeue, commit its park,
// finish) is done by the context we reach, in after_switch(), once the old stack is no longer in
// use — the park/unpark handshake of park.hpp depends on it. A yield's hand-off queues the yielder
// itself before the jump (local_ is this thread's; nothing runs in between).
#pragma once

#include <fiber/detail/context_switch.hpp>
#include <fiber/detail/fast_clock.hpp>
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

// Per-worker counters for fiber::runtime::stats() (fiber/debug.hpp). Written only by the owner
// thread (relaxed load + store: a plain increment, no locked instruction), read by anyone.
using counter = std::atomic<std::uint64_t>;
inline void bump(counter& c, std::uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
inline void drop(counter& c) noexcept {
  c.store(c.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

struct worker_counters {
  counter switches{0}, steals{0}, parks{0}, remote_wakeups{0}, polls{0}, io_waits{0}, timers{0};
  counter started{0};  // live started fibers homed here
  counter parked{0};   // of those, parked (woken ones still count until their worker takes them)
};

// Log2 latency buckets (bucket i holds [2^i, 2^(i+1)) ns; the last one is open-ended), owner-written.
struct latency_counters {
  static constexpr std::size_t buckets = 36;
  counter bucket[buckets] = {};
  counter sum_ns{0};
  void add(std::int64_t ns) noexcept {
    const auto v = static_cast<std::uint64_t>(ns < 1 ? 1 : ns);
    std::size_t i = static_cast<std::size_t>(63 - __builtin_clzll(v));
    if (i >= buckets) i = buckets - 1;
    bump(bucket[i]);
    bump(sum_ns, v);
  }
};

// WEFT_LATENCY_STATS=1: timestamps on every queueing and switch (run-queue wait and reactor
// wake-to-run histograms, per-fiber CPU time). Read once, when the first runtime starts.
bool latency_stats_enabled() noexcept;

// Singly linked FIFO through fiber_control::next.
class fiber_fifo {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  // Any thread may read the size (stats); only the owner changes it.
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
  void push_back(fiber_control* f) noexcept {
    f->next = nullptr;
    if (tail_)
      tail_->next = f;
    else
      head_ = f;
    tail_ = f;
    size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // Appends the chain head -> ... -> tail (linked by `next`, tail->next null) of n fibers.
  void append_chain(fiber_control* head, fiber_control* tail, std::size_t n) noexcept {
    if (tail_)
      tail_->next = head;
    else
      head_ = head;
    tail_ = tail;
    size_.store(size_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  fiber_control* pop_front() noexcept {
    fiber_control* f = head_;
    if (!f) return nullptr;
    head_ = f->next;
    if (!head_) tail_ = nullptr;
    f->next = nullptr;
    size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    return f;
  }

 private:
  fiber_control* head_ = nullptr;
  fiber_control* tail_ = nullptr;
  std::atomic<std::size_t> size_{0};
};

// Unstarted fibers. The owner runs the newest first (depth-first: a spawn-then-join tree keeps
// few fibers alive, as Go's runnext does) and every eighth scheduler round the oldest (no
// starvation); thieves take the oldest half. A ring buffer under a spinlock.
class spawn_queue {
 public:
  void push(fiber_control* f);
  fiber_control* pop_newest() noexcept;
  fiber_control* pop_newest_if(const fiber_control* f) noexcept;  // only if `f` is the newest
  fiber_control* pop_oldest() noexcept;
  // Moves about half of the queue (at least one, oldest first) to `out`; returns how many.
  std::size_t steal_half(fiber_fifo& out) noexcept;
  std::size_t approx_size() const noexcept { return size_.load(std::memory_order_relaxed); }
  // Calls fn(f) for each queued fiber under the queue's lock (fiber::dump()).
  template <class Fn>
  void for_each(Fn&& fn) {
    lock_.lock();
    for (std::size_t i = 0; i < count_; ++i) fn(ring_[(head_ + i) % ring_.size()]);
    lock_.unlock();
  }

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
  std::size_t drain_into(fiber_fifo& out) noexcept;  // owner only; keeps push order; returns how many

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
  void park_current();               // commits the park prepared with prepare_park()
  [[noreturn]] void exit_current();  // the fiber's last act
  // First act of a resumed context: store the handle of the context we left, and finish what it
  // asked for (pending_). pending_ is `nothing` whenever a context runs, and after a yield's
  // hand-off (yield_current) it stays so: that path queues the yielder itself.
  void after_switch(bctx::fcontext_t from) noexcept {
    prev_ctx_->handle = from;
    if (pending_ != after::nothing) complete_pending();
  }

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

  // --- observability (fiber/debug.hpp, fiber/detail/dump.cpp) ---
  const worker_counters& counters() const noexcept { return counters_; }
  const latency_counters& run_queue_wait() const noexcept { return run_wait_; }
  const latency_counters& wake_to_run() const noexcept { return wake_wait_; }
  void note_io_wait() noexcept { bump(counters_.io_waits); }  // owner thread
  std::size_t unstarted_count() const noexcept { return spawn_q_.approx_size(); }
  std::size_t run_queue_length() const noexcept { return local_.size() + spawn_q_.approx_size(); }
  int thread_id() const noexcept { return tid_.load(std::memory_order_relaxed); }
  // True while the worker sleeps with no timer and no work: the all-asleep check's input.
  bool asleep_without_timer() const noexcept { return asleep_no_timer_.load(std::memory_order_seq_cst); }
  // Asleep with no timer, nothing queued and no descriptor registered (any thread may ask).
  bool looks_idle() const noexcept {
    return asleep_without_timer() && local_.size() == 0 && inbox_.empty() && spawn_q_.approx_size() == 0 &&
           poller_.load(std::memory_order_acquire)->registered.load(std::memory_order_relaxed) == 0;
  }
  // Dump pauses (dump.cpp): request_pause(g) asks the worker to stop at its next scheduling point,
  // acknowledge g and wait until dump_release_gen reaches g. While paused, its started_ list and the
  // state, stack and wait record of each of its fibers are stable for the dumper to read.
  void request_pause(std::uint64_t gen) noexcept;
  bool paused_for(std::uint64_t gen) const noexcept { return ack_gen_.load(std::memory_order_acquire) == gen; }
  fiber_control* started_list() const noexcept { return started_; }  // owner, or while paused

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
  void hand_off(fiber_control* self, fiber_control* next) noexcept;  // yield_current's fast path
  void complete_pending() noexcept;                                  // after_switch's slow half
  void finish(fiber_control* f) noexcept;
  void adopt(fiber_control* f) noexcept;  // f starts here: its home, and the started_ list
  void serve_pause() noexcept;
  void begin_running(fiber_control* f, std::uint64_t now) noexcept;  // timing_ only
  bool others_idle() const noexcept;     // another worker is starting, sleeps or spins, looking for work
  void take_unstarted_share() noexcept;  // half of the next other worker's unstarted fibers, if >= 2
  bool pause_pending() const noexcept { return pause_gen_.load(std::memory_order_relaxed) != served_gen_; }

  runtime_core& rt_;
  const unsigned index_;

  // Owner thread only.
  exec_context sched_ctx_;
  fiber_control* current_ = nullptr;
  fiber_control* run_next_ = nullptr;  // spawned last by current_ (switch_away runs it next); may be stale
  exec_context* prev_ctx_ = nullptr;
  fiber_control* prev_fiber_ = nullptr;
  after pending_ = after::nothing;
  std::uint32_t ticks_ = 0;
  std::uint32_t until_maintenance_ = maintenance_interval;  // switches left before the scheduler's turn
  int* errno_ptr_ = nullptr;                                // the worker thread's errno
  std::vector<std::uint32_t> seen_progress_;                // per victim: its progress_ when we last looked
  std::uint32_t sched_rounds_ = 0;
  std::size_t share_cursor_ = 0;  // the worker take_unstarted_share() looked at last
  std::uint32_t steal_seed_;
  fiber_fifo local_;
  fiber_control* started_ = nullptr;  // every started, unfinished fiber of this worker (for gdb)
  const bool timing_;                 // latency_stats_enabled()
  std::uint64_t served_gen_ = 0;      // the last pause generation seen
  worker_counters counters_;
  latency_counters run_wait_, wake_wait_;
  timer_heap timers_;
  stack_cache stacks_;
  static constexpr std::size_t max_other_stack_sizes = 4;
  std::unique_ptr<stack_cache> other_stacks_[max_other_stack_sizes];

  // Shared. What other threads write (inbox_, spawn_q_) sits on cache lines of its own, away
  // from what the owner touches on every switch.
  alignas(64) std::atomic<std::uint32_t> progress_{0};  // bumped on every switch (owner writes, thieves read)
  std::atomic<bool> asleep_no_timer_{false};
  std::atomic<int> tid_{0};
  std::atomic<std::uint64_t> pause_gen_{0};
  std::atomic<std::uint64_t> ack_gen_{0};
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
  int pin_cpu_ = -1;                             // the CPU thread_main pinned this worker to (-1: none)
};

}  // namespace fiber::detail
