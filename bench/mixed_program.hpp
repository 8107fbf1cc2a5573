// mixed_program.hpp — one thread-style program, written once, run on std:: or on fiber:: names.
//
//   auto r = weft_mixed::run_mixed_program<weft_mixed::std_names>({.workers = 1000});
//   auto f = weft_mixed::run_mixed_program<weft_mixed::fiber_names>({.workers = 1000});
//   if (!f.ok) std::puts(f.error.c_str());
//
// The program (from an issue report; every worker is a `N::thread`, `main` is the caller):
//   - workers start together at a `latch`;
//   - each phase (cfg.phases of them), a worker moves money between random pairs of
//     cfg.accounts accounts: std::shared_lock on a `shared_mutex` (the bank), then
//     std::scoped_lock over the two accounts' `mutex`es; after every fifth transfer it sleeps
//     1 ms, after the others it yields (outside the locks). cfg.transfers is per worker, spread
//     over the phases;
//   - then it meets the others at a `barrier` (the completion takes the bank's exclusive lock
//     and audits the total);
//   - passes a `counting_semaphore<4>` and sleeps 200 us while holding a unit;
//   - pushes one item into a bounded queue (`mutex` + two `condition_variable`s) drained by one
//     consumer thread per ten workers;
//   - after the last phase it reports a checksum of its transfers through a `promise`; `main`
//     gets every `future`, closes the queue and joins everything.
// The reduced program (cfg.reduced) keeps only the transfers and the semaphore (no latch, barrier,
// queue or futures; main joins the workers).
//
// Invariants checked (result.ok): money conserved (sum of the accounts constant, also at every
// barrier audit); every produced item consumed exactly once; every future's value equals the
// checksum main recomputes from the worker's deterministic random sequence.
//
// A failure to create a thread (std::system_error, or more OS threads than the process/thread
// limits leave room for) gives result.started == false and "cannot start: ..." in result.error;
// already started workers are released and joined.
//
// Namespace traits: a struct with the type names below (std_names, fiber_names). Header-only.
#pragma once

#include <fiber/fiber.hpp>
#include <sync/sync.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <future>
#include <latch>
#include <limits>
#include <memory>
#include <mutex>
#include <semaphore>
#include <shared_mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace weft_mixed {

// ---- namespace traits ------------------------------------------------------------------------

// Threads the system can still create without starving other processes of PIDs (as bench/demo.cpp).
inline long os_thread_headroom() {
  auto read_long = [](const char* path, long fallback) {
    std::ifstream in(path);
    long v = fallback;
    in >> v;
    return v;
  };
  const long limit =
      std::min(read_long("/proc/sys/kernel/pid_max", 32768), read_long("/proc/sys/kernel/threads-max", 32768));
  std::ifstream loadavg("/proc/loadavg");  // "0.1 0.2 0.3 running/total lastpid"
  std::string a, b, c, tasks;
  loadavg >> a >> b >> c >> tasks;
  const auto slash = tasks.find('/');
  const long in_use = slash == std::string::npos ? 0 : std::atol(tasks.substr(slash + 1).c_str());
  return limit - in_use - 1000;  // leave room for the rest of the machine
}

struct std_names {
  static constexpr const char* name = "std";
  using thread = std::thread;
  using mutex = std::mutex;
  using shared_mutex = std::shared_mutex;
  using condition_variable = std::condition_variable;
  template <std::ptrdiff_t Max>
  using counting_semaphore = std::counting_semaphore<Max>;
  using latch = std::latch;
  template <class F>
  using barrier = std::barrier<F>;
  template <class T>
  using promise = std::promise<T>;
  template <class T>
  using future = std::future<T>;
  static constexpr std::future_status ready = std::future_status::ready;
  static void yield() { std::this_thread::yield(); }
  template <class Rep, class Period>
  static void sleep_for(const std::chrono::duration<Rep, Period>& d) {
    std::this_thread::sleep_for(d);
  }
  static long thread_headroom() { return os_thread_headroom(); }
};

struct fiber_names {
  static constexpr const char* name = "fiber";
  using thread = fiber::thread;
  using mutex = fiber::mutex;
  using shared_mutex = fiber::shared_mutex;
  using condition_variable = fiber::condition_variable;
  template <std::ptrdiff_t Max>
  using counting_semaphore = fiber::counting_semaphore<Max>;
  using latch = fiber::latch;
  template <class F>
  using barrier = fiber::barrier<F>;
  template <class T>
  using promise = fiber::promise<T>;
  template <class T>
  using future = fiber::future<T>;
  static void yield() { fiber::this_thread::yield(); }
  template <class Rep, class Period>
  static void sleep_for(const std::chrono::duration<Rep, Period>& d) {
    fiber::this_thread::sleep_for(d);
  }
  static long thread_headroom() { return std::numeric_limits<long>::max(); }
};

// ---- configuration, result, progress -----------------------------------------------------------

struct mixed_config {
  long workers = 1000;
  int transfers = 20;  // per worker, spread over the phases
  int phases = 3;      // barrier phases (each: transfers, barrier, semaphore, one queue item)
  std::uint64_t seed = 1;
  bool reduced = false;  // transfers + semaphore only
  int accounts = 64;
  long long initial_balance = 1000;
  int sleep_every = 5;  // every n-th transfer sleeps sleep_time, the others yield
  std::chrono::microseconds sleep_time{1000};
  std::chrono::microseconds semaphore_hold{200};
  std::size_t queue_capacity = 64;
  long workers_per_consumer = 10;
};

// Live counters (relaxed), for a watchdog to say where a hung run stands.
struct mixed_progress {
  alignas(64) std::atomic<long> created{0};
  alignas(64) std::atomic<long> transfers{0};
  alignas(64) std::atomic<long> barrier_arrivals{0};
  alignas(64) std::atomic<long> semaphore_passes{0};
  alignas(64) std::atomic<long> pushed{0};
  alignas(64) std::atomic<long> consumed{0};
  alignas(64) std::atomic<long> futures_got{0};
  alignas(64) std::atomic<long> workers_done{0};

  std::string describe(const mixed_config& cfg) const {
    char buf[512];
    const long n = cfg.workers;
    std::snprintf(buf, sizeof buf,
                  "created %ld/%ld, transfers %ld/%ld, barrier arrivals %ld/%ld, semaphore passes %ld/%ld, "
                  "items pushed %ld consumed %ld, futures got %ld, workers done %ld/%ld",
                  created.load(), n + (cfg.reduced ? 0 : (n + cfg.workers_per_consumer - 1) / cfg.workers_per_consumer),
                  transfers.load(), n * cfg.transfers, barrier_arrivals.load(), cfg.reduced ? 0 : n * cfg.phases,
                  semaphore_passes.load(), n * cfg.phases, pushed.load(), consumed.load(), futures_got.load(),
                  workers_done.load(), n);
    return buf;
  }
};

struct mixed_result {
  bool started = true;  // false: a thread could not be created ("cannot start: ..." in error)
  bool ok = false;      // started and every invariant held
  std::string error;    // the first failures, empty when ok
  double wall_s = 0;    // creation of the first thread .. all joined
  long long money_before = 0, money_after = 0;
  long barrier_audits = 0, barrier_audit_failures = 0;
  long items_produced = 0, items_consumed = 0, items_missing = 0, items_duplicated = 0;
  long futures_wrong = 0;
  long transfers_moved = 0, transfers_skipped = 0;  // skipped: source balance too low
};

// ---- the deterministic per-worker plan (replayed by main to check the futures) -----------------

struct transfer_rng {
  std::uint64_t s;
  transfer_rng(std::uint64_t seed, long worker)
      : s(seed * 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(worker) + 1) * 0xD1B54A32D192ED03ull) {}
  std::uint64_t next() {  // splitmix64
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

struct transfer_step {
  int from, to;
  long long amount;
};

inline transfer_step next_transfer(transfer_rng& rng, int accounts) {
  transfer_step t;
  t.from = static_cast<int>(rng.next() % static_cast<std::uint64_t>(accounts));
  t.to = static_cast<int>(
      (static_cast<std::uint64_t>(t.from) + 1 + rng.next() % static_cast<std::uint64_t>(accounts - 1)) %
      static_cast<std::uint64_t>(accounts));
  t.amount = 1 + static_cast<long long>(rng.next() % 100);
  return t;
}

inline std::uint64_t fold(std::uint64_t h, const transfer_step& t) {
  h ^= (static_cast<std::uint64_t>(t.from) << 40) ^ (static_cast<std::uint64_t>(t.to) << 20) ^
       static_cast<std::uint64_t>(t.amount);
  return h * 0x100000001B3ull;
}

inline std::uint64_t expected_report(const mixed_config& cfg, long worker) {
  transfer_rng rng(cfg.seed, worker);
  std::uint64_t h = 0xCBF29CE484222325ull ^ static_cast<std::uint64_t>(worker);
  for (int i = 0; i < cfg.transfers; ++i) h = fold(h, next_transfer(rng, cfg.accounts));
  return h;
}

// Transfers of phase p: cfg.transfers spread as evenly as possible.
inline int transfers_in_phase(const mixed_config& cfg, int p) {
  return cfg.transfers / cfg.phases + (p < cfg.transfers % cfg.phases ? 1 : 0);
}

// ---- the program -----------------------------------------------------------------------------

namespace detail {

template <class N>
struct program_state {
  struct alignas(64) account {
    typename N::mutex m;
    long long balance = 0;
  };
  struct audit {
    program_state* s;
    void operator()() noexcept { s->audit_now(); }
  };

  const mixed_config& cfg;
  mixed_progress& progress;
  std::unique_ptr<account[]> accounts;
  typename N::shared_mutex bank;
  typename N::template counting_semaphore<4> sem{4};
  typename N::latch start;
  typename N::template barrier<audit> phase_barrier;
  std::atomic<bool> aborted{false};
  std::atomic<long> moved{0}, skipped{0}, audits{0}, audit_failures{0};
  long long expected_total;

  // The bounded queue.
  typename N::mutex q_mu;
  typename N::condition_variable not_empty, not_full;
  std::deque<long> q;
  bool closed = false;
  std::vector<std::atomic<int>> seen;  // per item: times consumed

  std::vector<typename N::template promise<std::uint64_t>> reports;

  program_state(const mixed_config& c, mixed_progress& pr)
      : cfg(c),
        progress(pr),
        accounts(new account[static_cast<std::size_t>(c.accounts)]),
        start(c.reduced ? 1 : c.workers),
        phase_barrier(c.reduced ? 1 : c.workers, audit{this}),
        expected_total(c.initial_balance * c.accounts),
        seen(c.reduced ? 0 : static_cast<std::size_t>(c.workers * c.phases)),
        reports(c.reduced ? 0 : static_cast<std::size_t>(c.workers)) {
    for (int i = 0; i < c.accounts; ++i) accounts[i].balance = c.initial_balance;
  }

  long long total() {
    long long sum = 0;
    for (int i = 0; i < cfg.accounts; ++i) sum += accounts[i].balance;
    return sum;
  }

  void audit_now() noexcept {
    std::unique_lock lk(bank);  // every worker waits at the barrier: no transfer is in flight
    audits.fetch_add(1, std::memory_order_relaxed);
    if (total() != expected_total) audit_failures.fetch_add(1, std::memory_order_relaxed);
  }

  void push(long item) {
    {
      std::unique_lock<typename N::mutex> lk(q_mu);
      not_full.wait(lk, [&] { return q.size() < cfg.queue_capacity; });
      q.push_back(item);
    }
    not_empty.notify_one();
    progress.pushed.fetch_add(1, std::memory_order_relaxed);
  }

  void consume() {
    for (;;) {
      long item;
      {
        std::unique_lock<typename N::mutex> lk(q_mu);
        not_empty.wait(lk, [&] { return !q.empty() || closed; });
        if (q.empty()) return;  // closed and drained
        item = q.front();
        q.pop_front();
      }
      not_full.notify_one();
      if (item >= 0 && static_cast<std::size_t>(item) < seen.size())
        seen[static_cast<std::size_t>(item)].fetch_add(1, std::memory_order_relaxed);
      progress.consumed.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void close_queue() {
    {
      std::lock_guard<typename N::mutex> lk(q_mu);
      closed = true;
    }
    not_empty.notify_all();
  }

  void work(long id) {
    if (!cfg.reduced) {
      start.arrive_and_wait();
      if (aborted.load(std::memory_order_relaxed)) return;  // creation failed: nobody waits for us
    }
    transfer_rng rng(cfg.seed, id);
    std::uint64_t report = 0xCBF29CE484222325ull ^ static_cast<std::uint64_t>(id);
    int done = 0;
    for (int p = 0; p < cfg.phases; ++p) {
      for (int i = 0, n = transfers_in_phase(cfg, p); i < n; ++i) {
        const transfer_step t = next_transfer(rng, cfg.accounts);
        report = fold(report, t);
        {
          std::shared_lock<typename N::shared_mutex> open(bank);
          std::scoped_lock both(accounts[t.from].m, accounts[t.to].m);
          if (accounts[t.from].balance >= t.amount) {
            accounts[t.from].balance -= t.amount;
            accounts[t.to].balance += t.amount;
            moved.fetch_add(1, std::memory_order_relaxed);
          } else {
            skipped.fetch_add(1, std::memory_order_relaxed);
          }
        }
        progress.transfers.fetch_add(1, std::memory_order_relaxed);
        if (++done % cfg.sleep_every == 0)
          N::sleep_for(cfg.sleep_time);
        else
          N::yield();
      }
      if (!cfg.reduced) {
        progress.barrier_arrivals.fetch_add(1, std::memory_order_relaxed);
        phase_barrier.arrive_and_wait();
      }
      sem.acquire();
      N::sleep_for(cfg.semaphore_hold);
      sem.release();
      progress.semaphore_passes.fetch_add(1, std::memory_order_relaxed);
      if (!cfg.reduced) push(id * cfg.phases + p);
    }
    if (!cfg.reduced) reports[static_cast<std::size_t>(id)].set_value(report);
    progress.workers_done.fetch_add(1, std::memory_order_relaxed);
  }
};

template <class T>
void join_all(std::vector<T>& ts) {
  for (auto& t : ts)
    if (t.joinable()) t.join();
}

}  // namespace detail

template <class N>
mixed_result run_mixed_program(const mixed_config& cfg, mixed_progress* progress_out = nullptr) {
  mixed_result r;
  mixed_progress local_progress;
  mixed_progress& progress = progress_out ? *progress_out : local_progress;
  if (cfg.workers < 1 || cfg.phases < 1 || cfg.accounts < 2 || cfg.sleep_every < 1 || cfg.workers_per_consumer < 1) {
    r.started = false;
    r.error = "bad configuration";
    return r;
  }
  const long consumers = cfg.reduced ? 0 : (cfg.workers + cfg.workers_per_consumer - 1) / cfg.workers_per_consumer;
  {
    const long headroom = N::thread_headroom();
    if (cfg.workers + consumers > headroom) {
      r.started = false;
      r.error = "cannot start: needs " + std::to_string(cfg.workers + consumers) +
                " threads, the process/thread limits (pid_max, threads-max) leave room for " +
                std::to_string(std::max(0L, headroom));
      return r;
    }
  }

  auto state = std::make_unique<detail::program_state<N>>(cfg, progress);
  auto& s = *state;
  r.money_before = s.total();
  std::vector<typename N::template future<std::uint64_t>> futures;
  futures.reserve(s.reports.size());
  for (auto& p : s.reports) futures.push_back(p.get_future());

  std::vector<typename N::thread> consumer_threads, worker_threads;
  consumer_threads.reserve(static_cast<std::size_t>(consumers));
  worker_threads.reserve(static_cast<std::size_t>(cfg.workers));

  const auto t0 = std::chrono::steady_clock::now();
  try {
    for (long c = 0; c < consumers; ++c) {
      consumer_threads.emplace_back([&s] { s.consume(); });
      progress.created.fetch_add(1, std::memory_order_relaxed);
    }
    for (long i = 0; i < cfg.workers; ++i) {
      worker_threads.emplace_back([&s, i] { s.work(i); });
      progress.created.fetch_add(1, std::memory_order_relaxed);
    }
  } catch (const std::system_error& e) {
    r.started = false;
    r.error = "cannot start: " + std::string(e.what()) + " after " +
              std::to_string(consumer_threads.size() + worker_threads.size()) + " threads";
    s.aborted.store(true);
    if (!cfg.reduced) s.start.count_down(cfg.workers - static_cast<long>(worker_threads.size()));
    s.close_queue();
    detail::join_all(worker_threads);
    detail::join_all(consumer_threads);
    return r;
  }

  if (!cfg.reduced) {
    for (long i = 0; i < cfg.workers; ++i) {
      const std::uint64_t v = futures[static_cast<std::size_t>(i)].get();
      progress.futures_got.fetch_add(1, std::memory_order_relaxed);
      if (v != expected_report(cfg, i)) ++r.futures_wrong;
    }
    s.close_queue();
    detail::join_all(consumer_threads);
  }
  detail::join_all(worker_threads);
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Invariants.
  r.money_after = s.total();
  r.transfers_moved = s.moved.load();
  r.transfers_skipped = s.skipped.load();
  r.barrier_audits = s.audits.load();
  r.barrier_audit_failures = s.audit_failures.load();
  if (!cfg.reduced) {
    r.items_produced = progress.pushed.load();
    for (auto& c : s.seen) {
      const int n = c.load();
      r.items_consumed += n;
      if (n == 0) ++r.items_missing;
      if (n > 1) ++r.items_duplicated;
    }
  }
  std::string err;
  auto fail = [&err](const std::string& what) { err += (err.empty() ? "" : "; ") + what; };
  if (r.money_after != r.money_before)
    fail("money not conserved: " + std::to_string(r.money_before) + " -> " + std::to_string(r.money_after));
  if (r.transfers_moved + r.transfers_skipped != cfg.workers * cfg.transfers)
    fail("transfers " + std::to_string(r.transfers_moved + r.transfers_skipped) +
         " != " + std::to_string(cfg.workers * cfg.transfers));
  if (!cfg.reduced) {
    if (r.barrier_audits != cfg.phases)
      fail("barrier completions " + std::to_string(r.barrier_audits) + " != " + std::to_string(cfg.phases));
    if (r.barrier_audit_failures != 0)
      fail(std::to_string(r.barrier_audit_failures) + " barrier audits saw the total changed");
    const long items = cfg.workers * cfg.phases;
    if (r.items_produced != items)
      fail("items produced " + std::to_string(r.items_produced) + " != " + std::to_string(items));
    if (r.items_missing || r.items_duplicated || r.items_consumed != items)
      fail("items consumed " + std::to_string(r.items_consumed) + " of " + std::to_string(items) + " (" +
           std::to_string(r.items_missing) + " never, " + std::to_string(r.items_duplicated) + " more than once)");
    if (r.futures_wrong) fail(std::to_string(r.futures_wrong) + " futures carried a wrong value");
  }
  r.ok = err.empty();
  r.error = err;
  return r;
}

}  // namespace weft_mixed
