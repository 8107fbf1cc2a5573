// fiber_control.cpp — spawning, finishing, joining and releasing fibers.
#include <fiber/detail/fiber_control.hpp>

#include <fiber/detail/fork_support.hpp>
#include <fiber/detail/runtime_core.hpp>
#include <fiber/detail/stack_pool.hpp>
#include <fiber/detail/worker.hpp>

#include <atomic>
#include <cstdio>
#include <exception>
#include <system_error>

namespace fiber::detail {

namespace {

std::atomic<std::uint64_t> next_fiber_id{1};
constexpr std::uint64_t id_block = 1024;

// Ids come in blocks per thread, so spawning on several workers does not bounce one cache line.
std::uint64_t new_fiber_id() noexcept {
  thread_local std::uint64_t next = 0, limit = 0;
  if (next == limit) {
    next = next_fiber_id.fetch_add(id_block, std::memory_order_relaxed);
    limit = next + id_block;
  }
  return next++;
}

void fiber_entry(bctx::transfer_t t);

[[noreturn]] void report_uncaught(fiber_control& f, const std::exception_ptr& e) noexcept {
  terminate_reporting("detached " + f.describe(), e);
}

void fiber_entry(bctx::transfer_t t) {
  on_context_start();
  auto* w = static_cast<worker*>(t.data);
  w->after_switch(t.fctx);
  fiber_control* self = w->running();
  self->invoke();
  self->destroy_locals();
  run_exit_actions(self->exit_actions);  // after the fiber's locals, as std does after thread_locals
  w->exit_current();                     // a started fiber never leaves its home worker: `w` is still ours
}

}  // namespace

std::stop_source& fiber_control::stop_source() noexcept {
  stop_lock.lock();
  if (!stop_src.stop_possible()) {
    stop_src = std::stop_source();
    own_stop_cb.emplace(stop_src.get_token(), wake_on_stop{this});
  }
  stop_lock.unlock();
  return stop_src;
}

// Runs on the thread that requests the stop. The fiber is alive meanwhile: its destructor
// unregisters this callback, which waits for a running invocation to return.
void fiber_control::wake_on_stop::operator()() const noexcept {
  f->own_stop_seen.store(true, std::memory_order_seq_cst);
  // Pairs with park_until_own_stop: it publishes its park, then looks at own_stop_seen (both
  // seq_cst), so either it sees the request or we see its park. A stale sequence fails in unpark.
  const std::uint64_t seq = f->own_stop_park.load(std::memory_order_seq_cst);
  if (seq != 0) unpark({f, seq}, wake_reason::stopped);
}

void fiber_control::destroy_locals() noexcept {
  // A destructor may touch other fiber_locals (even create one): loop until all are gone.
  while (!locals.empty()) {
    auto slots = std::move(locals);
    locals.clear();
    for (auto& s : slots)
      if (s.value && s.destroy) s.destroy(s.value);
  }
}

void terminate_reporting(const std::string& who, const std::exception_ptr& e) noexcept {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (...) {
  }
  std::fprintf(stderr, "weft: uncaught exception in %s: %s\n", who.c_str(), what.c_str());
  std::fflush(stderr);
  std::terminate();
}

std::string fiber_control::describe() const {
  std::string out = "fiber ";
  if (!name.empty()) out += "'" + name + "' ";
  out += "(id " + std::to_string(id) + ")";
  return out;
}

void fiber_threw(fiber_control& f, const std::exception_ptr& e) noexcept {
  if (f.uncaught == on_uncaught::terminate) terminate_reporting(f.describe(), e);  // fiber::thread
  f.join_lock.lock();
  const bool nobody_joins = f.detached;
  if (!nobody_joins) f.error = e;
  f.join_lock.unlock();
  if (nobody_joins) report_uncaught(f, e);
}

void run_exit_actions(exit_action*& list) noexcept {
  // An action may register another one (a destructor it runs sets a value at exit): loop.
  while (exit_action* a = std::exchange(list, nullptr)) {
    while (a) {
      exit_action* next = a->next;
      a->run();
      a = next;
    }
  }
}

fiber_block reserve_fiber_block(runtime_core* rt_hint, std::size_t stack_size, std::size_t block_size,
                                std::size_t block_align) {
  runtime_core& rt = rt_hint ? *rt_hint : runtime_core::current();
  stack_slot* slot = rt.acquire_stack(stack_size);
  auto top = reinterpret_cast<std::uintptr_t>(slot);  // the header sits at the top of the slot
  const std::size_t align = block_align < 16 ? 16 : block_align;
  auto block = (top - block_size) & ~(static_cast<std::uintptr_t>(align) - 1);
  return {reinterpret_cast<void*>(block), slot, &rt};
}

void discard_fiber_block(const fiber_block& b) noexcept {
  b.slot->pool->release(b.slot);
}

void launch(fiber_control* f, const fiber_block& b, std::string&& name, on_uncaught policy) noexcept {
  f->stack = b.slot;
  f->id = new_fiber_id();
  // Each fiber's park sequence starts in its own range, so a token kept by a late waker can never
  // match a later fiber that reuses the same control-block address.
  f->word.store((f->id << 24) << 3, std::memory_order_relaxed);
  f->name = std::move(name);
  f->uncaught = policy;
  f->epoch = fork_epoch();
  char* usable_lo = b.slot->base + page_size();
  auto block = reinterpret_cast<std::uintptr_t>(f);
  std::size_t usable = (block & ~std::uintptr_t{15}) - reinterpret_cast<std::uintptr_t>(usable_lo);
  f->stack_size = usable;
  make_context(f->ctx, usable_lo, usable, fiber_entry);
  b.rt->submit(f);
}

bool is_finished(fiber_control* f) noexcept {
  f->join_lock.lock();
  const bool done = f->finished;
  f->join_lock.unlock();
  return done;
}

void wait_finished(fiber_control* f) {
  if (f == current_fiber())
    throw std::system_error(std::make_error_code(std::errc::resource_deadlock_would_occur),
                            "weft: " + f->describe() + " tried to join itself");
  wait_scope ws;
  for (;;) {
    f->join_lock.lock();
    if (f->finished) {
      f->join_lock.unlock();
      return;
    }
    f->joiner = prepare_park();
    const park_token me = f->joiner;
    f->join_lock.unlock();
    ws.arm_record(me.who->wait, wait_kind::join, f, f->id, nullptr, no_deadline);
    if (deadlock_check_enabled) check_wait_cycle(me.who->wait);
    park(me);
  }
}

namespace {
// Stacks released by a thread that is not a worker of their pool (main joining many fibers) are
// returned in batches: one pool lock and one coalesced madvise per batch, not per stack.
struct release_batch {
  stack_pool* pool = nullptr;
  std::vector<std::uintptr_t> entries;
  void add(stack_slot* slot) {
    if (pool != slot->pool) flush();
    pool = slot->pool;
    entries.push_back(stack_pool::entry_of(slot));
    if (entries.size() >= 256) flush();
  }
  void flush() {
    if (pool && !entries.empty()) pool->give_back(entries, true);
    entries.clear();
  }
  ~release_batch() { flush(); }
};
thread_local release_batch tls_release_batch;
}  // namespace

void release(fiber_control* f) noexcept {
  // References are never added, only dropped: seeing 1 means ours is the last, and the locked
  // decrement (about 20 cycles here) can be skipped — a join after the fiber finished does so.
  if (f->refs.load(std::memory_order_acquire) != 1 && f->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  stack_slot* slot = f->stack;
  destroy_context(f->ctx);
  f->~fiber_control();
  worker* w = worker::current();
  if (stack_cache* cache = w ? w->stacks_for(slot->pool->slot_size()) : nullptr) {
    cache->release(slot);
  } else {
    tls_release_batch.add(slot);
  }
}

void detach(fiber_control* f) noexcept {
  f->join_lock.lock();
  f->detached = true;
  std::exception_ptr unclaimed = f->finished ? f->error : nullptr;
  f->join_lock.unlock();
  if (unclaimed) report_uncaught(*f, unclaimed);
  release(f);
}

}  // namespace fiber::detail

namespace fiber::detail {

void assertion_failed(const char* condition, const char* what, const char* file, int line) noexcept {
  std::fprintf(stderr, "weft: internal invariant broken: %s (%s) at %s:%d, in %s\n", what, condition, file, line,
               current_name_for_diagnostics());
  std::fflush(stderr);
  std::abort();
}

}  // namespace fiber::detail
