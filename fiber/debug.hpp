// debug.hpp — seeing inside a running program: fiber dumps with wait reasons, runtime statistics.
//
//   fiber::dump();                          // every live fiber, what it waits for, its backtrace
//   fiber::dump_json(f);                    // the same as one JSON array, for tools
//   auto s = fiber::default_runtime().stats();   // counts by state, per-worker counters
//
// Environment (read when the first runtime starts):
//   WEFT_DUMP_SIGNAL=SIGUSR1 (a name or a number)  the signal prints a dump to stderr; the program
//                             keeps running (the handler only posts a semaphore; a "weft-dump"
//                             thread does the work)
//   WEFT_DUMP_ON_EXIT=1       at exit (and when a runtime is destroyed with fibers left on it),
//                             dump the fibers still alive
//   WEFT_DEADLOCK_CHECK=1     a contended lock of any fiber mutex type (shared_mutex writers too)
//                             or a join that closes a cycle of waits ends the process (status 2)
//                             with a report of the cycle; "all fibers are asleep" is reported the
//                             same way (see README, "Looking inside"). =abort: abort() instead.
//   WEFT_LATENCY_STATS=1      run-queue wait and reactor wake-to-run histograms per worker, CPU
//                             time per fiber (a clock read at every switch and queueing).
//
// How a dump stays safe in a live program (the choice, and why): every worker is asked to pause at
// its next scheduling point (a flag checked in the scheduler loop, which a worker reaches at least
// every 61 switches, and a wake-up of its poller if it sleeps). A paused worker runs no fiber, so its
// list of started fibers and the state, wait record and saved registers of each of them are stable;
// the dumper copies what it needs (ids, names, wait records, owners, the raw backtrace) and releases
// every worker at once. Symbolizing, stack-usage measurement and formatting happen after the
// release. A worker that does not pause within 200 ms (a fiber computing without a switch) is
// reported as "not responding" and its fibers are left out; nothing waits for it longer. Fibers not
// started yet are read from the spawn queues under their own spinlocks. The dump takes no lock that
// a fiber or the scheduler can hold while blocked, so it cannot deadlock on the program's state; a
// dump called from a fiber reads its own worker directly (nothing else runs there meanwhile).
// Pause cost (README, "Looking inside"): ~44 ms for 10,000 parked fibers with libunwind (~4.4 us a
// fiber, most of it unwinding), ~7 ms with frame pointers (WEFT_UNWINDER=fp), on a 2-core VM.
//
// Backtraces of parked fibers are unwound from their saved context with libunwind (DWARF CFI, so
// frame pointers are not needed), loaded with dlopen("libunwind.so.8") so that linking weft never
// changes the C++ exception unwinder; without it, a frame-pointer walk is used (complete only for
// code built with -fno-omit-frame-pointer). Symbols and file:line come from libdw (elfutils,
// dlopen("libdw.so.1")), else dladdr. x86-64 only for parked fibers; elsewhere only the calling
// fiber's own stack is shown.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace fiber {

// Prints one block per live fiber (and per OS thread waiting on a weft object) of every runtime.
void dump(std::FILE* out = stderr);
// The same data as one JSON document: an array of objects, one per fiber (or waiting thread, with
// "type": "thread", or worker that did not pause, with "type": "worker"), fields named as in dump().
void dump_json(std::FILE* out);

// Log2 buckets of nanoseconds: bucket i counts samples in [2^i, 2^(i+1)) ns, the last bucket all
// longer ones. Empty unless WEFT_LATENCY_STATS=1.
struct latency_histogram {
  static constexpr std::size_t bucket_count = 36;
  std::array<std::uint64_t, bucket_count> buckets{};
  std::uint64_t count = 0;
  std::uint64_t sum_ns = 0;
  static constexpr std::uint64_t upper_bound_ns(std::size_t i) noexcept { return std::uint64_t{1} << (i + 1); }
  // Upper bound of the bucket holding quantile q (0 < q <= 1); 0 when empty.
  std::uint64_t quantile_ns(double q) const noexcept;
};

struct worker_stats {
  std::size_t run_queue = 0;         // runnable fibers queued on it (started and not yet started)
  std::uint64_t switches = 0;        // context switches into fibers
  std::uint64_t steals = 0;          // successful steals from other workers' spawn queues
  std::uint64_t parks = 0;           // fibers that parked (left the CPU to wait)
  std::uint64_t remote_wakeups = 0;  // fibers woken by another thread (through its inbox)
  std::uint64_t polls = 0;           // reactor polls (epoll_wait / kevent / io_uring waits)
  std::uint64_t io_waits = 0;        // socket waits of its fibers (read, write, connect)
  std::uint64_t timers = 0;          // timers fired (sleeps and timed waits that ran out)
  std::size_t live_fibers = 0;       // started fibers homed on it
  latency_histogram run_queue_wait;  // runnable -> running (WEFT_LATENCY_STATS=1)
  latency_histogram wake_to_run;     // reactor event -> the woken fiber runs (WEFT_LATENCY_STATS=1)
};

struct runtime_stats {
  std::size_t fibers = 0;    // live fibers = running + runnable + parked
  std::size_t running = 0;   // on a worker's CPU now
  std::size_t runnable = 0;  // queued (including spawned fibers not started yet)
  std::size_t parked = 0;    // waiting (including fibers in fiber::blocking)
  std::vector<worker_stats> workers;
  std::size_t blocking_threads = 0;  // fiber::blocking offload threads (process-wide)
  std::size_t blocking_busy = 0;     // of those, running a job
  std::size_t blocking_queued = 0;   // jobs waiting for an offload thread
  bool latency_stats = false;        // WEFT_LATENCY_STATS=1 (the histograms are filled)
};

}  // namespace fiber
