// debug_registry.hpp — what the observability code (fiber/debug.hpp) needs to find: every live
// runtime, and every OS thread's parker.
//
// Thread parkers come from a type-stable pool: allocated once, never freed, reused by later threads
// (their park word keeps counting, so a stale token never matches a later park). A lock holder
// recorded as a thread parker, or a waiter found in a list, can therefore always be read, even
// after its thread ended — the deadlock check and the dump rely on that.
#pragma once

#include <fiber/detail/fiber_control.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace fiber::detail {

class runtime_core;

struct thread_parker : parker {
  thread_parker() : parker(kind::thread) {}
  std::atomic<bool> in_use{false};
  std::atomic<int> tid{0};            // the OS thread using it (gettid), while in_use
  thread_parker* all_next = nullptr;  // the pool list (immutable once linked)
};

// The head of the list of every thread parker ever created (walk with all_next).
thread_parker* all_thread_parkers() noexcept;
// True if `p` is one of them (a lock holder that is an OS thread, not a fiber).
bool is_thread_parker(const void* p) noexcept;
// Bumped each time an OS thread returns from a park: the all-asleep check's progress signal.
extern std::atomic<std::uint64_t> thread_park_returns;

// Live runtimes. Registered by runtime_core's constructor, unregistered first thing in its
// destructor (before its workers stop): a dump holding the registry lock sees workers that run.
void register_runtime(runtime_core* rt);
void unregister_runtime(runtime_core* rt);
std::mutex& runtime_registry_lock() noexcept;
std::vector<runtime_core*>& runtime_registry() noexcept;  // under runtime_registry_lock()

// The fiber::blocking offload threads: how many, how many idle, jobs queued, their thread ids.
struct blocking_pool_info {
  unsigned threads = 0;
  unsigned idle = 0;
  std::size_t queued = 0;
  std::vector<int> tids;
};
blocking_pool_info blocking_pool_snapshot();

// Dump pauses: paused workers wait until this reaches the generation they acknowledged (worker.cpp).
extern std::atomic<std::uint64_t> dump_release_gen;

// Environment-driven features, set up once with the first runtime: WEFT_DUMP_SIGNAL,
// WEFT_DUMP_ON_EXIT, WEFT_DEADLOCK_CHECK's all-asleep monitor.
void start_debug_services();
// ~runtime_core with WEFT_DUMP_ON_EXIT=1: report the fibers the runtime abandons.
void dump_abandoned(runtime_core& rt) noexcept;

}  // namespace fiber::detail
