// runtime_core.hpp — the workers of one runtime, and the default runtime.
//
// Idle protocol: `idle_workers` counts workers asleep (or about to sleep) in their poller. A fiber
// that spawns work checks it and wakes one sleeper so the work can be stolen; the check is one
// relaxed-ordered load when nobody sleeps, so busy runtimes pay nothing.
#pragma once

#include <fiber/runtime.hpp>
#include <fiber/detail/stack_pool.hpp>
#include <fiber/detail/watchdog.hpp>
#include <fiber/detail/worker.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace fiber::detail {

class runtime_core {
 public:
  explicit runtime_core(const runtime_options& options);
  ~runtime_core();

  void submit(fiber_control* f) noexcept;  // a newly spawned fiber
  void wake_one_idle(const worker* except) noexcept;
  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }

  std::vector<std::unique_ptr<worker>>& workers() noexcept { return workers_; }
  std::size_t default_stack_size() const noexcept { return stack_size_; }
  std::size_t slot_size_for(std::size_t stack_size) const noexcept;
  stack_pool& default_pool() noexcept { return *default_pool_; }
  // A stack of `stack_size` usable bytes (0: the runtime's default) for a new fiber: from the
  // calling worker's cache when it belongs to this runtime and the size is the default one.
  stack_slot* acquire_stack(std::size_t stack_size);

  std::atomic<int> idle_workers{0};                        // asleep in their poller
  std::atomic<int> spinning_workers{0};                    // looking for work before sleeping
  std::atomic<int> starting_workers{0};                    // threads not yet in their loop (they will look)
  alignas(64) std::atomic<int> remote_wakes_in_flight{0};  // threads between an inbox push and its wake-up

  // The runtime a spawn from the calling context goes to: the caller's own worker's runtime,
  // else the default one (default_core()).
  static runtime_core& current();
  // The installed default, else a newly started implicit default (never destroyed).
  static runtime_core& default_core();
  static std::atomic<runtime_core*> installed_default;

  fiber::io_backend backend() const noexcept { return backend_; }
  // In a child of fork() (fork_support.hpp): new threads for the workers that did not survive, fresh
  // pollers and queues everywhere; the fiber that called fork, if it ran here, keeps running.
  void rebuild_after_fork();
  void start_missing_threads();
  runtime* owner = nullptr;  // the fiber::runtime object that owns this core (set once)

 private:
  std::size_t stack_size_;
  fiber::io_backend backend_ = fiber::io_backend::automatic;
  stack_pool* default_pool_;
  std::vector<std::unique_ptr<worker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<unsigned> next_target_{0};
  unsigned watchdog_ms_ = 0;
  std::atomic<bool> threads_missing_{false};  // a fork child whose workers have no threads yet
  std::mutex restart_mu_;
  std::unique_ptr<watchdog> watchdog_;  // declared last: stopped before the workers go
};

}  // namespace fiber::detail
