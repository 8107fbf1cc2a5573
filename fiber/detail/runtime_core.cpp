#include <fiber/detail/runtime_core.hpp>

#include <fiber/detail/context_switch.hpp>
#include <fiber/detail/debug_registry.hpp>

#include <fiber/detail/fork_support.hpp>
#include <fiber/detail/os/cpu.hpp>
#include <fiber/detail/os/stack_memory.hpp>
#include <fiber/detail/os/poller.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <cstring>
#include <string>

namespace fiber {

unsigned usable_cpus() noexcept {
  return detail::usable_cpu_count();
}

}  // namespace fiber

namespace fiber::detail {

std::atomic<runtime_core*> runtime_core::installed_default{nullptr};

void adopt_thread_context(exec_context& ctx) {
  void* lo = nullptr;
  std::size_t size = 0;
  if (current_thread_stack(lo, size)) {
    ctx.stack_lo = lo;
    ctx.stack_size = size;
  }
#ifdef WEFT_TSAN
  ctx.tsan_fiber = __tsan_get_current_fiber();
#endif
}

std::size_t runtime_core::slot_size_for(std::size_t stack_size) const noexcept {
  const std::size_t pg = page_size();
  if (stack_size < 4 * pg) stack_size = 4 * pg;
  return (stack_size + pg - 1) / pg * pg + pg;  // + the guard page
}

namespace {

// The registry of live runtimes (debug_registry.hpp) serves the fork handler too: its lock is held
// across fork() (prepare -> parent/child), and the child rebuilds every runtime in it.
void fork_prepare() noexcept {
  runtime_registry_lock().lock();
  stack_pool::lock_all();
}
void fork_parent() noexcept {
  stack_pool::unlock_all();
  runtime_registry_lock().unlock();
}
void fork_child() noexcept {
  stack_pool::unlock_all();
  runtime_registry_lock().unlock();
  for (runtime_core* rt : runtime_registry()) rt->rebuild_after_fork();
}

void register_live(runtime_core* rt) {
  register_fork_handler({.layer = 0, .prepare = fork_prepare, .parent = fork_parent, .child = fork_child});
  register_runtime(rt);
}

// WEFT_IO_BACKEND wins over the option; an unknown name is reported and ignored.
fiber::io_backend requested_backend(fiber::io_backend option) {
  const char* env = std::getenv("WEFT_IO_BACKEND");
  if (!env || !*env) return option;
  for (auto b :
       {fiber::io_backend::epoll, fiber::io_backend::kqueue, fiber::io_backend::io_uring, fiber::io_backend::automatic})
    if (std::strcmp(env, io_backend_name(b)) == 0) return b;
  std::fprintf(stderr, "weft: WEFT_IO_BACKEND=%s is not a backend (epoll, kqueue, io_uring); ignored\n", env);
  return option;
}

// The first worker's poller decides the runtime's backend: a backend that is not built or that the
// kernel refuses falls back to the platform default, with one line on stderr.
std::unique_ptr<poller> first_poller(fiber::io_backend& chosen) {
  const fiber::io_backend fallback = platform_default_backend();
  if (chosen == fiber::io_backend::automatic) chosen = fallback;
  if (!io_backend_built(chosen)) {
    std::fprintf(stderr, "weft: io backend '%s' is not built into this weft; using '%s'\n", io_backend_name(chosen),
                 io_backend_name(fallback));
    chosen = fallback;
  }
  try {
    return make_poller(chosen);
  } catch (const std::system_error& e) {
    if (chosen == fallback) throw;
    std::fprintf(stderr, "weft: io backend '%s' cannot start (%s); using '%s'\n", io_backend_name(chosen), e.what(),
                 io_backend_name(fallback));
    chosen = fallback;
    return make_poller(chosen);
  }
}

}  // namespace

runtime_core::runtime_core(const runtime_options& options) {
  stack_size_ = options.stack_size ? options.stack_size : runtime_options::default_stack_size;
  default_pool_ = &stack_pool::for_size(slot_size_for(stack_size_));
  unsigned n = options.workers;
  if (n == 0) {
    if (const char* env = std::getenv("WEFT_WORKERS"); env && std::atoi(env) > 0) {
      n = static_cast<unsigned>(std::atoi(env));
    } else {
      n = usable_cpu_count();
    }
  }
  const std::vector<int> cpus = options.pin_workers ? allowed_cpus() : std::vector<int>();
  backend_ = requested_backend(options.io_backend);
  std::vector<std::unique_ptr<poller>> pollers;
  pollers.push_back(first_poller(backend_));
  while (pollers.size() < n) {
    try {
      pollers.push_back(make_poller(backend_));
    } catch (const std::system_error& e) {
      // A later worker's ring may fail where the first one did not (locked memory): all fall back.
      const fiber::io_backend fallback = platform_default_backend();
      if (backend_ == fallback) throw;
      std::fprintf(stderr, "weft: io backend '%s' cannot start (%s); using '%s'\n", io_backend_name(backend_), e.what(),
                   io_backend_name(fallback));
      backend_ = fallback;
      pollers.clear();
      pollers.push_back(make_poller(backend_));
    }
  }
  for (unsigned i = 0; i < n; ++i)
    workers_.push_back(std::make_unique<worker>(*this, i, default_pool_->slot_size(), std::move(pollers[i])));
  starting_workers.store(static_cast<int>(n), std::memory_order_relaxed);
  for (unsigned i = 0; i < n; ++i) {
    int cpu = cpus.empty() ? -1 : cpus[i % cpus.size()];
    threads_.emplace_back([this, i, cpu] { workers_[i]->thread_main(cpu); });
  }
  unsigned watch_ms = options.watchdog_ms;
  if (const char* env = std::getenv("WEFT_WATCHDOG_MS"); watch_ms == 0 && env)
    watch_ms = static_cast<unsigned>(std::atoi(env));
  watchdog_ms_ = watch_ms;
  if (watch_ms > 0) watchdog_ = std::make_unique<watchdog>(*this, std::chrono::milliseconds(watch_ms));
  register_live(this);
  start_debug_services();
}

void runtime_core::rebuild_after_fork() {
  idle_workers.store(0, std::memory_order_relaxed);
  spinning_workers.store(0, std::memory_order_relaxed);
  remote_wakes_in_flight.store(0, std::memory_order_relaxed);
  worker* me = worker::current();
  for (auto& w : workers_) w->reset_after_fork(w.get() == me ? w->running() : nullptr);
  // Threads start on the child's first spawn (start_missing_threads), not here: a child that only
  // calls exec (system(), popen(), fork + exec) must not pay for them, and starting threads inside
  // an atfork handler is more than some tools (ThreadSanitizer) allow.
  if (watchdog_) (void)watchdog_.release();  // its thread is gone too; restarted with the workers
  threads_missing_.store(true, std::memory_order_release);
}

void runtime_core::start_missing_threads() {
  std::lock_guard lk(restart_mu_);
  if (!threads_missing_.load(std::memory_order_acquire)) return;
  worker* me = worker::current();
  int to_start = 0;
  for (auto& w : workers_) to_start += w.get() == me ? 0 : 1;
  starting_workers.store(to_start, std::memory_order_relaxed);  // the parent's count means nothing here
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    worker* w = workers_[i].get();
    if (w == me) continue;  // the thread that called fork() still runs its worker
    // The parent's thread does not exist here: its std::thread object is overwritten, not destroyed
    // (joining or detaching a thread of another process is undefined).
    const int cpu = w->pin_cpu();
    try {
      new (&threads_[i]) std::thread([this, i, cpu] { workers_[i]->thread_main(cpu); });
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "weft: cannot start worker %zu in this child of fork(): %s\n", i, e.what());
      std::abort();
    }
  }
  if (watchdog_ms_ > 0) watchdog_ = std::make_unique<watchdog>(*this, std::chrono::milliseconds(watchdog_ms_));
  threads_missing_.store(false, std::memory_order_release);
}

runtime_core::~runtime_core() {
  dump_abandoned(*this);  // WEFT_DUMP_ON_EXIT=1 only: the fibers this destruction abandons
  unregister_runtime(this);
  watchdog_.reset();
  runtime_core* self = this;
  installed_default.compare_exchange_strong(self, nullptr);
  stopping_.store(true, std::memory_order_release);
  for (auto& w : workers_) {
    w->io().sleeping.store(false);
    w->io().wake();
  }
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  while (remote_wakes_in_flight.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

stack_slot* runtime_core::acquire_stack(std::size_t stack_size) {
  const std::size_t slot_size = stack_size == 0 ? default_pool_->slot_size() : slot_size_for(stack_size);
  if (worker* w = worker::current())
    if (stack_cache* cache = w->stacks_for(slot_size)) return cache->acquire();
  return stack_pool::for_size(slot_size).acquire();
}

void runtime_core::submit(fiber_control* f) noexcept {
  if (threads_missing_.load(std::memory_order_relaxed)) start_missing_threads();  // first spawn after fork
  worker* w = worker::current();
  if (w && &w->rt() == this) {
    w->push_spawned(f);
    return;
  }
  unsigned i = next_target_.fetch_add(1, std::memory_order_relaxed) % static_cast<unsigned>(workers_.size());
  workers_[i]->push_spawned(f);
}

void runtime_core::wake_one_idle(const worker* except) noexcept {
  for (auto& w : workers_)
    if (w.get() != except && w->wake_if_sleeping()) return;
}

runtime_core& runtime_core::current() {
  if (worker* w = worker::current()) return w->rt();
  return default_core();
}

runtime_core& runtime_core::default_core() {
  if (runtime_core* rt = installed_default.load(std::memory_order_acquire)) return *rt;
  // The implicit default runtime: started once, never destroyed (fibers may outlive main). It
  // installs itself unless a runtime the program constructed got there first.
  static runtime* implicit = new runtime(runtime_options{});
  if (runtime_core* rt = installed_default.load(std::memory_order_acquire)) return *rt;
  return *implicit->core_;
}

}  // namespace fiber::detail

namespace fiber {

runtime::runtime(runtime_options options) : core_(std::make_unique<detail::runtime_core>(options)) {
  core_->owner = this;
  detail::runtime_core* expected = nullptr;
  detail::runtime_core::installed_default.compare_exchange_strong(expected, core_.get());
}

runtime::~runtime() = default;

unsigned runtime::workers() const noexcept {
  return static_cast<unsigned>(core_->workers().size());
}

std::size_t runtime::default_stack_size() const noexcept {
  return core_->default_stack_size();
}

fiber::io_backend runtime::io_backend() const noexcept {
  return core_->backend();
}

runtime& default_runtime() {
  return *detail::runtime_core::default_core().owner;
}

}  // namespace fiber
