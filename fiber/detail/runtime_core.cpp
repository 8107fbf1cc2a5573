#include <fiber/detail/runtime_core.hpp>

#include <fiber/detail/context_switch.hpp>

#include <pthread.h>
#include <sched.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>

namespace fiber {

unsigned usable_cpus() noexcept {
  unsigned cpus = std::thread::hardware_concurrency();
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) cpus = static_cast<unsigned>(CPU_COUNT(&set));
  // cgroup v2 CPU quota: "max 100000" or "<quota> <period>".
  std::ifstream in("/sys/fs/cgroup/cpu.max");
  std::string quota;
  long period = 0;
  if (in >> quota >> period && quota != "max" && period > 0) {
    long q = std::atol(quota.c_str());
    if (q > 0) {
      auto limit = static_cast<unsigned>(std::ceil(static_cast<double>(q) / static_cast<double>(period)));
      if (limit < cpus) cpus = limit;
    }
  }
  return cpus ? cpus : 1;
}

}  // namespace fiber

namespace fiber::detail {

std::atomic<runtime_core*> runtime_core::installed_default{nullptr};

void adopt_thread_context(exec_context& ctx) {
  pthread_attr_t attr;
  if (::pthread_getattr_np(::pthread_self(), &attr) == 0) {
    void* lo = nullptr;
    std::size_t size = 0;
    ::pthread_attr_getstack(&attr, &lo, &size);
    ::pthread_attr_destroy(&attr);
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

runtime_core::runtime_core(const runtime_options& options) {
  stack_size_ = options.stack_size ? options.stack_size : runtime_options::default_stack_size;
  default_pool_ = &stack_pool::for_size(slot_size_for(stack_size_));
  unsigned n = options.workers;
  if (n == 0) {
    if (const char* env = std::getenv("WEFT_WORKERS"); env && std::atoi(env) > 0) {
      n = static_cast<unsigned>(std::atoi(env));
    } else {
      n = usable_cpus();
    }
  }
  std::vector<int> cpus;
  if (options.pin_workers) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0)
      for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<worker>(*this, i, default_pool_->slot_size()));
  for (unsigned i = 0; i < n; ++i) {
    int cpu = cpus.empty() ? -1 : cpus[i % cpus.size()];
    threads_.emplace_back([this, i, cpu] { workers_[i]->thread_main(cpu); });
  }
  unsigned watch_ms = options.watchdog_ms;
  if (const char* env = std::getenv("WEFT_WATCHDOG_MS"); watch_ms == 0 && env) watch_ms = static_cast<unsigned>(std::atoi(env));
  if (watch_ms > 0) watchdog_ = std::make_unique<watchdog>(*this, std::chrono::milliseconds(watch_ms));
}

runtime_core::~runtime_core() {
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
  if (runtime_core* rt = installed_default.load(std::memory_order_acquire)) return *rt;
  // The implicit default runtime: started once, never destroyed (fibers may outlive main).
  static runtime_core* implicit = [] {
    auto* rt = new runtime_core(runtime_options{});
    runtime_core* expected = nullptr;
    installed_default.compare_exchange_strong(expected, rt);
    return rt;
  }();
  if (runtime_core* rt = installed_default.load(std::memory_order_acquire)) return *rt;
  return *implicit;
}

}  // namespace fiber::detail

namespace fiber {

runtime::runtime(runtime_options options) : core_(std::make_unique<detail::runtime_core>(options)) {
  detail::runtime_core* expected = nullptr;
  detail::runtime_core::installed_default.compare_exchange_strong(expected, core_.get());
}

runtime::~runtime() = default;

unsigned runtime::workers() const noexcept { return static_cast<unsigned>(core_->workers().size()); }

std::size_t runtime::default_stack_size() const noexcept { return core_->default_stack_size(); }

}  // namespace fiber
