// stats.cpp — fiber::runtime::stats(): relaxed reads of the counters each worker keeps for itself
// (fiber/detail/worker.hpp), no lock and no pause.
#include <fiber/debug.hpp>

#include <fiber/detail/debug_registry.hpp>
#include <fiber/detail/runtime_core.hpp>

namespace fiber {

std::uint64_t latency_histogram::quantile_ns(double q) const noexcept {
  if (count == 0) return 0;
  const double want = q * static_cast<double>(count);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += buckets[i];
    if (static_cast<double>(seen) >= want) return upper_bound_ns(i);
  }
  return upper_bound_ns(bucket_count - 1);
}

namespace {

latency_histogram copy_histogram(const detail::latency_counters& c) noexcept {
  latency_histogram h;
  static_assert(latency_histogram::bucket_count == detail::latency_counters::buckets, "one bucket layout");
  for (std::size_t i = 0; i < latency_histogram::bucket_count; ++i) {
    h.buckets[i] = c.bucket[i].load(std::memory_order_relaxed);
    h.count += h.buckets[i];
  }
  h.sum_ns = c.sum_ns.load(std::memory_order_relaxed);
  return h;
}

}  // namespace

runtime_stats runtime::stats() const {
  runtime_stats s;
  s.latency_stats = detail::latency_stats_enabled();
  for (auto& wp : core_->workers()) {
    const detail::worker& w = *wp;
    const detail::worker_counters& c = w.counters();
    worker_stats ws;
    ws.run_queue = w.run_queue_length();
    ws.switches = c.switches.load(std::memory_order_relaxed);
    ws.steals = c.steals.load(std::memory_order_relaxed);
    ws.parks = c.parks.load(std::memory_order_relaxed);
    ws.remote_wakeups = c.remote_wakeups.load(std::memory_order_relaxed);
    ws.polls = c.polls.load(std::memory_order_relaxed);
    ws.io_waits = c.io_waits.load(std::memory_order_relaxed);
    ws.timers = c.timers.load(std::memory_order_relaxed);
    ws.run_queue_wait = copy_histogram(w.run_queue_wait());
    ws.wake_to_run = copy_histogram(w.wake_to_run());
    // Started fibers split into running (0 or 1), parked and the rest (ready); unstarted ones wait
    // in the spawn queue. Counters are read one by one: clamp the transient disagreements.
    const std::size_t started = c.started.load(std::memory_order_relaxed);
    const std::size_t running = w.on_cpu() != nullptr && started > 0 ? 1 : 0;
    std::size_t parked = c.parked.load(std::memory_order_relaxed);
    if (parked + running > started) parked = started - running;
    ws.live_fibers = started;
    s.running += running;
    s.parked += parked;
    s.runnable += started - running - parked + w.unstarted_count();
    s.workers.push_back(ws);
  }
  s.fibers = s.running + s.runnable + s.parked;
  const detail::blocking_pool_info bp = detail::blocking_pool_snapshot();
  s.blocking_threads = bp.threads;
  s.blocking_busy = bp.threads - bp.idle;
  s.blocking_queued = bp.queued;
  return s;
}

}  // namespace fiber
