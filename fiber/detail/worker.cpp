#include <fiber/detail/worker.hpp>

#include <fiber/detail/assert.hpp>
#include <fiber/detail/fork_support.hpp>
#include <fiber/detail/overflow_guard.hpp>
#include <fiber/detail/runtime_core.hpp>

#include <fiber/detail/os/cpu.hpp>
#include <fiber/detail/os/thread_waiter.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <mutex>
#include <cstdlib>
#include <time.h>
#include <utility>

// Where gdb (tools/weft-gdb.py) finds the workers: a fixed array, so no C++ container internals.
extern "C" {
fiber::detail::worker* weft_debug_workers[256];
unsigned weft_debug_worker_count = 0;
}

namespace fiber::detail {

// Dump pauses (worker::serve_pause, fiber/detail/dump.cpp): paused workers wait until this reaches
// the generation they acknowledged.
std::atomic<std::uint64_t> dump_release_gen{0};

bool latency_stats_enabled() noexcept {
  static const bool on = [] {
    const char* env = std::getenv("WEFT_LATENCY_STATS");
    return env && *env && *env != '0';
  }();
  return on;
}

namespace {
// Set while the calling thread dispatches reactor events (WEFT_LATENCY_STATS: wake-to-run).
thread_local bool tls_in_reactor = false;

constexpr unsigned max_cpu_slots = 256;
std::mutex debug_registry_mu;  // guards weft_debug_workers and slot assignment
// Slot i: the fiber running on the worker registered at weft_debug_workers[i]. Never freed.
// Each worker writes its slot on every switch: one cache line per slot, or two workers' switches
// would keep stealing the line from each other.
struct alignas(64) cpu_slot_line {
  std::atomic<fiber_control*> fiber{nullptr};
};
cpu_slot_line running_on[max_cpu_slots];
}  // namespace

holder current_holder() noexcept {
  worker* w = worker::current();
  if (w && w->running()) return {w->running(), w->cpu_slot()};
  return {current_thread_parker(), holder::no_cpu};
}

bool holder_running_elsewhere(const void* who, std::uint32_t cpu) noexcept {
  worker* me = worker::current();
  if (me && me->has_ready_fibers()) return false;    // better to run them than to spin
  if (cpu == holder::no_cpu) return who != nullptr;  // an OS thread: cannot tell, spin briefly
  if (cpu >= max_cpu_slots || (me && me->cpu_slot() == cpu)) return false;
  return running_on[cpu].fiber.load(std::memory_order_relaxed) == who;
}

// ---------------------------------------------------------------- queues

void spawn_queue::push(fiber_control* f) {
  lock_.lock();
  if (count_ == ring_.size()) {
    // Grow (rare): unroll the ring into a buffer twice as large (sizes stay powers of two).
    std::vector<fiber_control*> bigger(ring_.size() * 2);
    for (std::size_t i = 0; i < count_; ++i) bigger[i] = ring_[(head_ + i) & mask_];
    ring_.swap(bigger);
    mask_ = ring_.size() - 1;
    head_ = 0;
  }
  ring_[(head_ + count_) & mask_] = f;
  ++count_;
  size_.store(count_, std::memory_order_relaxed);
  lock_.unlock();
}

fiber_control* spawn_queue::take_front_locked() noexcept {
  fiber_control* f = ring_[head_];
  head_ = (head_ + 1) & mask_;
  --count_;
  return f;
}

fiber_control* spawn_queue::pop_newest() noexcept {
  if (size_.load(std::memory_order_relaxed) == 0) return nullptr;
  lock_.lock();
  fiber_control* f = nullptr;
  if (count_ > 0) {
    --count_;
    f = ring_[(head_ + count_) & mask_];
    size_.store(count_, std::memory_order_relaxed);
  }
  lock_.unlock();
  return f;
}

fiber_control* spawn_queue::pop_newest_if(const fiber_control* f) noexcept {
  if (size_.load(std::memory_order_relaxed) == 0) return nullptr;
  lock_.lock();
  fiber_control* got = nullptr;
  if (count_ > 0 && ring_[(head_ + count_ - 1) & mask_] == f) {
    --count_;
    got = ring_[(head_ + count_) & mask_];
    size_.store(count_, std::memory_order_relaxed);
  }
  lock_.unlock();
  return got;
}

fiber_control* spawn_queue::pop_oldest() noexcept {
  if (size_.load(std::memory_order_relaxed) == 0) return nullptr;
  lock_.lock();
  fiber_control* f = count_ > 0 ? take_front_locked() : nullptr;
  size_.store(count_, std::memory_order_relaxed);
  lock_.unlock();
  return f;
}

std::size_t spawn_queue::steal_half(fiber_fifo& out) noexcept {
  if (size_.load(std::memory_order_relaxed) == 0) return 0;
  if (!lock_.try_lock()) return 0;
  std::size_t n = (count_ + 1) / 2;
  for (std::size_t i = 0; i < n; ++i) out.push_back(take_front_locked());
  size_.store(count_, std::memory_order_relaxed);
  lock_.unlock();
  return n;
}

void inbox::push(fiber_control* f) noexcept {
  fiber_control* head = head_.load(std::memory_order_relaxed);
  do {
    f->next = head;
  } while (!head_.compare_exchange_weak(head, f, std::memory_order_release, std::memory_order_relaxed));
}

std::size_t inbox::drain_into(fiber_fifo& out) noexcept {
  fiber_control* list = head_.exchange(nullptr, std::memory_order_acquire);
  if (!list) return 0;
  // The stack holds newest first: reverse it to keep wake-up order, in one pass (each control block
  // sits on its own fiber's stack page, so a second walk would miss the cache again per fiber),
  // then splice the whole chain onto `out`. The newest, first in the stack, becomes the tail.
  fiber_control* const newest = list;
  fiber_control* reversed = nullptr;
  std::size_t n = 0;
  while (list) {
    fiber_control* next = list->next;
    list->state = fiber_state::ready;
    list->next = reversed;
    reversed = list;
    list = next;
    ++n;
  }
  out.append_chain(reversed, newest, n);
  return n;
}

// ---------------------------------------------------------------- worker

worker::worker(runtime_core& rt, unsigned index, std::size_t default_slot_size, std::unique_ptr<poller> io)
    : rt_(rt),
      index_(index),
      steal_seed_(index * 2654435761u + 1),
      timing_(latency_stats_enabled()),
      stacks_(stack_pool::for_size(default_slot_size)),
      poller_(io.release()) {
  std::lock_guard lk(debug_registry_mu);
  unsigned slot = 0;
  while (slot < weft_debug_worker_count && weft_debug_workers[slot]) ++slot;
  if (slot == weft_debug_worker_count && weft_debug_worker_count < max_cpu_slots) ++weft_debug_worker_count;
  if (slot < weft_debug_worker_count) {
    weft_debug_workers[slot] = this;
    cpu_slot_ = slot;
    on_cpu_ = &running_on[slot].fiber;
    on_cpu_->store(nullptr, std::memory_order_relaxed);
  }
}

worker::~worker() {
  poller_.load()->shut_down();  // closes its descriptors; the object stays valid (see worker.hpp)
  std::lock_guard lk(debug_registry_mu);
  on_cpu_->store(nullptr, std::memory_order_relaxed);
  if (cpu_slot_ != holder::no_cpu) weft_debug_workers[cpu_slot_] = nullptr;
}

void worker::thread_main(int pin_cpu) {
  tls_current = this;
  errno_ptr_ = &errno;
  pin_cpu_ = pin_cpu;
  tid_.store(current_thread_id(), std::memory_order_relaxed);
  if (pin_cpu >= 0) pin_current_thread(pin_cpu);
  char name[16];
  std::snprintf(name, sizeof name, "weft-w%u", index_);
  name_current_thread(name);
  overflow_guard guard;  // alternate signal stack for the stack-overflow report
  adopt_thread_context(sched_ctx_);
  rt_.starting_workers.fetch_sub(1, std::memory_order_relaxed);
  loop();
  tls_current = nullptr;
}

void worker::loop() {
  while (!rt_.stopping()) {
    if (fiber_control* f = next_runnable()) {
      run(f);
    } else {
      idle();
    }
  }
}

void worker::adopt(fiber_control* f) noexcept {
  bump(counters_.started);
  f->home = this;
  f->started_prev = nullptr;
  f->started_next = started_;
  if (started_) started_->started_prev = f;
  started_ = f;
}

void worker::run(fiber_control* f) {
  WEFT_ASSERT(f->state == fiber_state::created || f->state == fiber_state::ready,
              "the scheduler runs only created or ready fibers");
  if (f->state == fiber_state::created) adopt(f);
  WEFT_ASSERT(f->home == this, "a started fiber runs only on its home worker");
  f->state = fiber_state::running;
  bump(counters_.switches);
  if (timing_) begin_running(f, fast_ticks());
  current_ = f;
  on_cpu_->store(f, std::memory_order_release);
  progress_.store(++ticks_, std::memory_order_relaxed);
  prev_ctx_ = &sched_ctx_;
  prev_fiber_ = nullptr;
  pending_ = after::nothing;
  bctx::transfer_t t = jump(f->ctx, this);
  after_switch(t.fctx);
}

void worker::complete_pending() noexcept {
  fiber_control* prev = prev_fiber_;
  switch (pending_) {
    case after::nothing:
      break;
    case after::requeue:
      prev->state = fiber_state::ready;
      local_.push_back(prev);
      break;
    case after::commit_park: {
      WEFT_ASSERT(prev->state == fiber_state::running, "only the running fiber parks");
      prev->state = fiber_state::parked;
      bump(counters_.parked);
      std::uint64_t w = prev->word.load(std::memory_order_acquire);
      if ((w & ps_mask) == ps_parking &&
          prev->word.compare_exchange_strong(w, (w & ~ps_mask) | ps_parked, std::memory_order_acq_rel)) {
        bump(counters_.parks);
        break;
      }
      // Woken while it was still switching away: run it again.
      drop(counters_.parked);
      prev->state = fiber_state::ready;
      if (timing_) prev->ready_tick = fast_ticks();
      local_.push_back(prev);
      break;
    }
    case after::finish:
      finish(prev);
      break;
  }
  pending_ = after::nothing;
  prev_fiber_ = nullptr;
}

void worker::switch_away(fiber_control* self, after what, bool leaving_for_good) {
  fiber_control* next = nullptr;
  progress_.store(++ticks_, std::memory_order_relaxed);
  // The fiber this one spawned last, if it parks or ends with it still queued, runs next (Go's
  // runnext): spawn-then-join stays on this worker as two switches, and the spawn queue holds it
  // only briefly, so an idle worker leaves it alone and steals what has waited longer instead.
  fiber_control* const spawned_last = std::exchange(run_next_, nullptr);
  if (--until_maintenance_ != 0) {
    if (spawned_last && what != after::requeue) next = spawn_q_.pop_newest_if(spawned_last);
    if (next) {
      adopt(next);
    } else {
      next = local_.pop_front();
    }
    // Nothing started is ready: start a fiber of our own spawn queue directly (spawn + join
    // then costs two switches, not four through the scheduler context).
    if (!next && (next = spawn_q_.pop_newest()) && next->state == fiber_state::created) adopt(next);
  } else {
    until_maintenance_ = maintenance_interval;  // through the scheduler: timers, inbox, I/O, pauses
  }
  exec_context* to = &sched_ctx_;
  if (next) {
    WEFT_ASSERT(next->state == fiber_state::ready || next->state == fiber_state::created,
                "the next fiber must be runnable");
    next->state = fiber_state::running;
    to = &next->ctx;
  }
  if (next) bump(counters_.switches);
  if (timing_) {
    const std::uint64_t now = fast_ticks();
    self->cpu_ticks.store(self->cpu_ticks.load(std::memory_order_relaxed) + (now - self->run_start_tick),
                          std::memory_order_relaxed);
    if (what == after::requeue) self->ready_tick = now;
    if (next) begin_running(next, now);
  }
  current_ = next;
  on_cpu_->store(next, std::memory_order_release);
  prev_ctx_ = &self->ctx;
  prev_fiber_ = self;
  pending_ = what;
  // errno is per thread; each fiber keeps its own across a switch, as each thread does. Its address
  // is the worker thread's, taken once (errno's accessor is a call into libc).
  const int saved_errno = *errno_ptr_;
  bctx::transfer_t t = jump(*to, this, leaving_for_good);
  // Resumed: on the same worker (started fibers never migrate), so errno's address is unchanged.
  after_switch(t.fctx);
  *errno_ptr_ = saved_errno;
}

void worker::yield_current() {
  fiber_control* self = current_;
  if (until_maintenance_ > 1 && !timing_) [[likely]] {
    if (fiber_control* next = local_.pop_front()) {
      hand_off(self, next);
      return;
    }
    // Nothing else to run and no maintenance due: yielding is a no-op.
    if (inbox_.empty()) {
      ++ticks_;
      --until_maintenance_;
      return;
    }
  }
  switch_away(self, after::requeue, false);
}

// switch_away(self, after::requeue) for the common case, with less to do on both sides: `next` is a
// started fiber of local_, no maintenance is due and no latency timing is on. The yielder queues
// itself before the jump instead of leaving that to the resumed side: local_ belongs to this
// thread, and nothing on it runs between the push and the jump, so no one can pop `self` before
// its stack is saved. The resumed side then finds pending_ == nothing and only stores the handle.
void worker::hand_off(fiber_control* self, fiber_control* next) noexcept {
  WEFT_ASSERT(next->state == fiber_state::ready, "a fiber of local_ is ready");
  WEFT_ASSERT(pending_ == after::nothing, "a running context has nothing pending");
  --until_maintenance_;
  progress_.store(++ticks_, std::memory_order_relaxed);
  bump(counters_.switches);
  run_next_ = nullptr;  // run-next applies to a spawner that parks or ends, not to one that yields
  self->state = fiber_state::ready;
  local_.push_back(self);
  next->state = fiber_state::running;
  current_ = next;
  on_cpu_->store(next, std::memory_order_release);
  prev_ctx_ = &self->ctx;
  const int saved_errno = *errno_ptr_;
  bctx::transfer_t t = jump(next->ctx, this);
  after_switch(t.fctx);
  *errno_ptr_ = saved_errno;
}

void worker::park_current() {
  switch_away(current_, after::commit_park, false);
}

void worker::exit_current() {
  fiber_control* self = current_;
  // Wake the joiner while still on our stack, so that it can be the next fiber we switch to. The
  // fiber's own reference keeps the stack alive until finish() runs on the next context.
  self->join_lock.lock();
  self->finished = true;
  park_token joiner = self->joiner;
  self->join_lock.unlock();
  if (joiner) unpark(joiner);
  switch_away(self, after::finish, true);
  std::fprintf(stderr, "weft: internal error: a finished fiber was resumed\n");
  std::abort();
}

void worker::finish(fiber_control* f) noexcept {
  WEFT_ASSERT(f->state == fiber_state::running, "only the running fiber finishes");
  f->state = fiber_state::finished;
  drop(counters_.started);
  if (f->started_prev)
    f->started_prev->started_next = f->started_next;
  else
    started_ = f->started_next;
  if (f->started_next) f->started_next->started_prev = f->started_prev;
  release(f);  // the fiber's own reference: its stack is no longer in use
}

void worker::make_ready(fiber_control* f) noexcept {
  WEFT_ASSERT(f->home == this, "a started fiber is made ready only on its home worker");
  if (f->epoch != fork_epoch()) return;  // a fiber of the parent process: it does not exist here
  if (timing_) {
    f->ready_tick = fast_ticks();
    f->woken_by_reactor = tls_in_reactor;
  }
  if (tls_current == this) {
    drop(counters_.parked);  // unpark() queues only fibers that were parked
    f->state = fiber_state::ready;
    local_.push_back(f);
    return;
  }
  // Once pushed, f may run, finish and let its runtime be destroyed while we still wake the
  // worker: the runtime's destructor waits for this counter to drop to zero.
  rt_.remote_wakes_in_flight.fetch_add(1, std::memory_order_acq_rel);
  inbox_.push(f);
  wake_if_sleeping();
  rt_.remote_wakes_in_flight.fetch_sub(1, std::memory_order_release);
}

void worker::reset_after_fork(fiber_control* survivor) {
  // Placement-new over the queues: a lock or link left mid-operation by a thread that does not
  // exist here must not survive. Their old contents (the parent's fibers) are simply forgotten.
  new (&local_) fiber_fifo();
  new (&inbox_) inbox();
  new (&spawn_q_) spawn_queue();
  new (&timers_) timer_heap();
  started_ = nullptr;
  current_ = survivor;
  if (survivor) {
    survivor->epoch = fork_epoch();
    survivor->started_prev = survivor->started_next = nullptr;
    started_ = survivor;
  }
  on_cpu_->store(survivor, std::memory_order_relaxed);
  poller_.load()->abandon_after_fork();
  poller_renewal_due_.store(true, std::memory_order_relaxed);  // the owner makes a new one: io()
}

stack_cache* worker::stacks_for(std::size_t slot_size) {
  if (stacks_.pool().slot_size() == slot_size) return &stacks_;
  for (auto& c : other_stacks_) {
    if (!c) c = std::make_unique<stack_cache>(stack_pool::for_size(slot_size));
    if (c->pool().slot_size() == slot_size) return c.get();
  }
  return nullptr;
}

void worker::renew_poller() {
  poller* old = poller_.load(std::memory_order_relaxed);
  try {
    poller_.store(make_poller(old->backend()).release(), std::memory_order_release);  // old stays valid
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "weft: cannot create the %s poller of worker %u after fork: %s\n",
                 io_backend_name(old->backend()), index_, e.what());
    std::abort();
  }
  poller_renewal_due_.store(false, std::memory_order_relaxed);
}

void worker::push_spawned(fiber_control* f) noexcept {
  if (timing_) f->ready_tick = fast_ticks();
  spawn_q_.push(f);
  if (tls_current == this) {
    if (current_) run_next_ = f;
    // Let an idle worker steal it: spreads spawn-heavy work across cores.
    // A spinning worker will find it by itself: wake a sleeper only when none spins (as Go does).
    if (rt_.idle_workers.load(std::memory_order_seq_cst) > 0 &&
        rt_.spinning_workers.load(std::memory_order_seq_cst) == 0)
      rt_.wake_one_idle(this);
  } else {
    // The queue's size was published by a relaxed store before the lock's release: without a full
    // fence the `sleeping` load below may be satisfied first (store buffering), while the worker sets
    // `sleeping` and reads the old size — both miss, and the worker sleeps in epoll_wait(-1) with the
    // fiber queued (seen as a hang of sync_bench's weft_mutex_handoff_1worker: main joining a fiber
    // that never started; found with `weft fibers` + the dump's stats).
    full_fence();
    wake_if_sleeping();
  }
}

bool worker::wake_if_sleeping() noexcept {
  poller* p = poller_.load(std::memory_order_acquire);
  if (p->sleeping.load(std::memory_order_seq_cst) && p->sleeping.exchange(false)) {
    p->wake();
    return true;
  }
  return false;
}

fiber_control* worker::next_runnable() {
  if (pause_pending()) serve_pause();
  if (!inbox_.empty()) {
    const std::size_t n = inbox_.drain_into(local_);
    bump(counters_.remote_wakeups, n);
    counters_.parked.store(counters_.parked.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  serve_timers_and_io();
  // Balancing while busy: an idle worker steals, but a busy one never is, and a started fiber
  // never moves. So when another worker holds several unstarted fibers and we hold none, take half
  // of them now, before their owner starts them (they start here in time). Otherwise a worker that
  // stole one spawner early stays at one while its neighbour starts the other seven. Taking only
  // when we hold none keeps fibers from moving back and forth between two busy workers.
  if (spawn_q_.approx_size() == 0) take_unstarted_share();
  // Now and then the oldest unstarted fiber goes first, so none starves behind newer spawns or
  // ready fibers; otherwise newest-first keeps spawn trees depth-first (few live stacks). Not while
  // another worker is idle and there are several to take: that worker was woken to steal them
  // (half, oldest first), and a fiber started here could never move there. (A lone one is left to
  // its owner by thieves, so the owner keeps starting it.)
  if ((++sched_rounds_ & 7) == 0 && !(spawn_q_.approx_size() >= 2 && others_idle())) {
    if (fiber_control* f = spawn_q_.pop_oldest()) return f;
  }
  if (fiber_control* f = local_.pop_front()) return f;
  if (fiber_control* f = spawn_q_.pop_newest()) return f;
  return steal();
}

void worker::serve_timers_and_io() {
  if (!timers_.empty()) bump(counters_.timers, timers_.fire_due(clock::now()));
  // Poll I/O without blocking whenever the scheduler runs: at a bounded interval while run queues
  // never drain (fairness), and before looking elsewhere for work when they did.
  if (poller& p = io(); p.registered.load(std::memory_order_relaxed) > 0) {
    bump(counters_.polls);
    if (timing_) tls_in_reactor = true;
    p.wait(0);
    tls_in_reactor = false;
  }
}

void worker::begin_running(fiber_control* f, std::uint64_t now) noexcept {
  if (f->ready_tick != 0) {
    const std::int64_t waited = now > f->ready_tick ? ticks_to_ns(static_cast<std::int64_t>(now - f->ready_tick)) : 0;
    run_wait_.add(waited);
    if (f->woken_by_reactor) wake_wait_.add(waited);
    f->ready_tick = 0;
    f->woken_by_reactor = false;
  }
  f->run_start_tick = now;
}

void worker::request_pause(std::uint64_t gen) noexcept {
  pause_gen_.store(gen, std::memory_order_seq_cst);
  poller_.load(std::memory_order_acquire)->wake();  // a sleeping worker serves it at once; a spinning one sees the flag
}

void worker::serve_pause() noexcept {
  const std::uint64_t gen = pause_gen_.load(std::memory_order_acquire);
  served_gen_ = gen;
  if (dump_release_gen.load(std::memory_order_acquire) >= gen) return;  // that dump gave up on us
  ack_gen_.store(gen, std::memory_order_release);
  for (;;) {
    const std::uint64_t r = dump_release_gen.load(std::memory_order_acquire);
    if (r >= gen) break;
    wait_on_word(dump_release_gen, r, no_deadline);
  }
}

fiber_control* worker::steal() {
  auto& all = rt_.workers();
  const std::size_t n = all.size();
  if (n < 2) return nullptr;
  steal_seed_ = steal_seed_ * 1664525u + 1013904223u;
  std::size_t at = steal_seed_ % n;
  for (std::size_t i = 0; i < n; ++i, at = at + 1 == n ? 0 : at + 1) {
    worker* victim = all[at].get();
    if (victim == this) continue;
    // A lone unstarted fiber is left to its owner while the owner is switching (it will run it
    // next, usually right after its spawner parks: stealing it would only add a cross-worker
    // wake-up). It is taken once the owner has made no progress since our last look.
    if (victim->spawn_q_.approx_size() == 1) {
      if (seen_progress_.size() < n) seen_progress_.resize(n, ~0u);
      const std::uint32_t now = victim->progress_.load(std::memory_order_relaxed);
      std::uint32_t& seen = seen_progress_[victim->index_];
      if (seen != now) {
        seen = now;
        continue;
      }
    }
    fiber_fifo got;
    if (victim->spawn_q_.steal_half(got) == 0) continue;
    bump(counters_.steals);
    fiber_control* first = got.pop_front();
    while (fiber_control* f = got.pop_front()) spawn_q_.push(f);
    return first;
  }
  return nullptr;
}

void worker::take_unstarted_share() noexcept {
  // One other worker per round, in turn: this runs on every round of a worker holding no unstarted
  // fiber (most rounds of a server), so it reads one queue's size, not all of them.
  auto& all = rt_.workers();
  if (all.size() < 2) return;
  if (++share_cursor_ >= all.size()) share_cursor_ = 0;
  if (all[share_cursor_].get() == this && ++share_cursor_ >= all.size()) share_cursor_ = 0;
  worker* victim = all[share_cursor_].get();
  if (victim->spawn_q_.approx_size() < 2) return;
  fiber_fifo got;
  if (victim->spawn_q_.steal_half(got) == 0) return;
  bump(counters_.steals);
  while (fiber_control* f = got.pop_front()) spawn_q_.push(f);
}

bool worker::others_idle() const noexcept {
  return rt_.idle_workers.load(std::memory_order_relaxed) > 0 ||
         rt_.spinning_workers.load(std::memory_order_relaxed) > 0 ||
         rt_.starting_workers.load(std::memory_order_relaxed) > 0;
}

bool worker::has_work() const noexcept {
  if (!inbox_.empty() || spawn_q_.approx_size() > 0) return true;
  for (auto& w : rt_.workers())
    if (w.get() != this && w->spawn_q_.approx_size() > 0) return true;
  return false;
}

void worker::idle() {
  // Spin briefly (bounded, ~50 us): work often arrives within microseconds (a spawn burst, a
  // reply), and sleeping costs a syscall on both sides. An idle runtime still sleeps at once after.
  // A worker with sockets registered does not spin: their readiness only shows in epoll_wait, so
  // it waits there directly (queued work still wakes it through the eventfd).
  poller& io_now = io();
  const bool serves_io = io_now.registered.load(std::memory_order_relaxed) > 0;
  const auto spin_until = clock::now() + std::chrono::microseconds(serves_io ? 0 : 50);
  rt_.spinning_workers.fetch_add(1, std::memory_order_seq_cst);
  bool found = false;
  do {
    // Look only every few microseconds: each look pulls the other workers' queue cache lines
    // away from them, which would slow down the very workers we hope to help.
    for (int i = 0; i < 64; ++i) cpu_relax();
    found = has_work() || rt_.stopping() || pause_pending();
  } while (!found && clock::now() < spin_until);
  rt_.spinning_workers.fetch_sub(1, std::memory_order_seq_cst);
  if (found) return;
  io_now.sleeping.store(true, std::memory_order_seq_cst);
  rt_.idle_workers.fetch_add(1, std::memory_order_seq_cst);
  if (!has_work() && !rt_.stopping() && !pause_pending()) {
    std::int64_t timeout_ns = -1;
    if (!timers_.empty()) {
      auto left = timers_.next_deadline() - clock::now();
      timeout_ns = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(left).count());
    }
    bump(counters_.polls);
    if (timing_) tls_in_reactor = true;
    if (timeout_ns < 0) asleep_no_timer_.store(true, std::memory_order_seq_cst);
    io_now.wait(timeout_ns);
    asleep_no_timer_.store(false, std::memory_order_seq_cst);
    tls_in_reactor = false;
  }
  io_now.sleeping.store(false, std::memory_order_seq_cst);
  rt_.idle_workers.fetch_sub(1, std::memory_order_seq_cst);
  if (!timers_.empty()) bump(counters_.timers, timers_.fire_due(clock::now()));
}

}  // namespace fiber::detail
