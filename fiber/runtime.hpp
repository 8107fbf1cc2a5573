// runtime.hpp — a set of worker threads that run fibers.
//
//   fiber::runtime rt({.workers = 4, .stack_size = 256 * 1024});
//   int v = rt.run([] { return 42; });        // runs on rt, waits from this thread
//
// Most programs never name a runtime: the first fiber::spawn / fiber::run / fiber::thread starts
// the default one (one worker per usable CPU: the affinity mask and the cgroup CPU quota; the
// environment variable WEFT_WORKERS overrides). A runtime constructed while no default exists
// becomes the default until it is destroyed, so `fiber::runtime rt({.workers = 2});` at the top
// of main configures everything that follows.
//
// Destroying a runtime stops its workers; fibers still parked on it are abandoned without running
// their destructors (join what you need first). The implicitly started default runtime is never
// destroyed, so detached fibers cannot outlive it and exit never waits for them.
//
// I/O backend: each worker sleeps in a poller of one backend — epoll (Linux), kqueue (BSD, macOS;
// on Linux through libkqueue when built with -DWEFT_KQUEUE=ON) or io_uring (Linux, -DWEFT_IO_URING).
// runtime_options::io_backend chooses among the built ones; the environment variable
// WEFT_IO_BACKEND=epoll|kqueue|io_uring wins over it. `automatic` is the platform default. A backend
// that is not built, or that the kernel refuses, falls back to the platform default with one line
// on stderr; io_backend() says which one a runtime really uses.
#pragma once

#include <cstddef>
#include <memory>

namespace fiber {

namespace detail {
class runtime_core;
}

enum class io_backend { automatic, epoll, kqueue, io_uring };

struct runtime_stats;  // fiber/debug.hpp (included by fiber/fiber.hpp)

struct runtime_options {
  static constexpr std::size_t default_stack_size = 128 * 1024;  // bytes, when stack_size is 0

  unsigned workers = 0;        // 0: one per usable CPU
  std::size_t stack_size = 0;  // default stack for fibers of this runtime; 0: default_stack_size
  bool pin_workers = false;    // pin worker i to the i-th CPU of the affinity mask
  unsigned watchdog_ms = 0;    // > 0: report fibers holding a worker longer (see watchdog.hpp);
                               // 0: the environment variable WEFT_WATCHDOG_MS, else off
  fiber::io_backend io_backend = fiber::io_backend::automatic;  // WEFT_IO_BACKEND overrides it
};

class runtime {
 public:
  explicit runtime(runtime_options options = {});
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  unsigned workers() const noexcept;
  std::size_t default_stack_size() const noexcept;
  // The backend this runtime's workers really use (after any fallback).
  fiber::io_backend io_backend() const noexcept;
  // Fibers by state and per-worker counters (fiber/debug.hpp). Cheap: relaxed loads of counters
  // each worker keeps for itself; no lock, no pause. The counts are read one after the other, so
  // while fibers change state they may disagree by a few; `fibers` is their sum by definition.
  runtime_stats stats() const;

  // Runs f(args...) as a fiber on this runtime and waits (parks or blocks) for its result.
  template <class F, class... Args>
  auto run(F&& f, Args&&... args);
  // Spawns on this runtime (see spawn.hpp for the semantics).
  template <class F, class... Args>
  auto spawn(F&& f, Args&&... args);

 private:
  friend class detail::runtime_core;
  std::unique_ptr<detail::runtime_core> core_;
};

// The default runtime — the one fiber::spawn / run / thread use outside any fiber: the first
// runtime constructed while none exists, else one started now with default options (never
// destroyed). Its members (workers(), io_backend(), ...) serve programs that never construct one.
runtime& default_runtime();

// Number of workers the default runtime uses on this machine (affinity mask, cgroup quota).
unsigned usable_cpus() noexcept;

}  // namespace fiber
