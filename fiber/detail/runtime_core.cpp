#include <fiber/detail/runtime_core.hpp>

#include <fiber/detail/context_switch.hpp>

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

unsigned usable_cpus() noexcept { return detail::usable_cpu_count(); }

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

// Every live runtime, for the fork handler. The mutex is held across fork() (prepare -> parent/child).
std::mutex live_mu;
std::vector<runtime_core*>& live_runtimes() {
  static auto* v = new std::vector<runtime_core*>();  // never destroyed: fork may come late
  return *v;
}

void fork_prepare() noexcept {
  live_mu.lock();
  stack_pool::lock_all();
}
void fork_parent() noexcept {
  stack_pool::unlock_all();
  live_mu.unlock();
}
void fork_child() noexcept {
  stack_pool::unlock_all();
  live_mu.unlock();
  for (runtime_core* rt : live_runtimes()) rt->rebuild_after_fork();
}

void register_live(runtime_core* rt) {
  register_fork_handler({.layer = 0, .prepare = fork_prepare, .parent = fork_parent, .child = fork_child});
  std::lock_guard lk(live_mu);
  live_runtimes().push_back(rt);
}

void unregister_live(runtime_core* rt) {
  std::lock_guard lk(live_mu);
  auto& v = live_runtimes();
  v.erase(std::remove(v.begin(), v.end(), rt), v.end());
}

// WEFT_IO_BACKEND wins over the option; an unknown name is reported and ignored.
fiber::io_backend requested_backend(fiber::io_backend option) {
  const char* env = std::getenv("WEFT_IO_BACKEND");
  if (!env || !*env) return option;
  for (auto b : {fiber::io_backend::epoll, fiber::io_backend::kqueue, fiber::io_backend::io_uring,
                 fiber::io_backend::automatic})
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
  for (unsigned i = 0; i < n; ++i) {
    int cpu = cpus.empty() ? -1 : cpus[i % cpus.size()];
    threads_.emplace_back([this, i, cpu] { workers_[i]->thread_main(cpu); });
  }
  unsigned watch_ms = options.watchdog_ms;
  if (const char* env = std::getenv("WEFT_WATCHDOG_MS"); watch_ms == 0 && env) watch_ms = static_cast<unsigned>(std::atoi(env));
  watchdog_ms_ = watch_ms;
  if (watch_ms > 0) watchdog_ = std::make_unique<watchdog>(*this, std::chrono::milliseconds(watch_ms));
  register_live(this);
}

void runtime_core::rebuild_after_fork() {
  idle_workers.store(0, std::memory_order_relaxed);
  spinning_workers.store(0, std::memory_order_relaxed);
  remote_wakes_in_flight.store(0, std::memory_order_relaxed);
  worker* me = worker::current();
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    worker* w = workers_[i].get();
    const bool survives = w == me;  // this thread is the one that called fork()
    w->reset_after_fork(survives ? w->running() : nullptr);
    if (survives) continue;
    // The parent's thread does not exist here: its std::thread object is overwritten, not destroyed
    // (joining or detaching a thread of another process is undefined).
    const int cpu = w->pin_cpu();
    new (&threads_[i]) std::thread([this, i, cpu] { workers_[i]->thread_main(cpu); });
  }
  if (watchdog_) {
    (void)watchdog_.release();  // its thread is gone too
    watchdog_ = std::make_unique<watchdog>(*this, std::chrono::milliseconds(watchdog_ms_));
  }
}

runtime_core::~runtime_core() {
  unregister_live(this);
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
  if (stack_size == 0 || stack_size == stack_size_) {
    worker* w = worker::current();
    if (w && &w->rt() == this) return w->stacks().acquire();
    return default_pool_->acquire();
  }
  return stack_pool::for_size(slot_size_for(stack_size)).acquire();
}

void runtime_core::submit(fiber_control* f) noexcept {
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

unsigned runtime::workers() const noexcept { return static_cast<unsigned>(core_->workers().size()); }

std::size_t runtime::default_stack_size() const noexcept { return core_->default_stack_size(); }

fiber::io_backend runtime::io_backend() const noexcept { return core_->backend(); }

runtime& default_runtime() { return *detail::runtime_core::default_core().owner; }

}  // namespace fiber
