// deadlock.cpp — WEFT_DEADLOCK_CHECK=1: wait-for cycles among fibers (and OS threads), and
// "all fibers are asleep".
//
// Cycles. A contended lock of a fiber mutex (every mutex type; shared_mutex writers; shared_mutex
// readers blocked behind a writer are edges too) or a join arms the waiter's wait record, then,
// before parking, follows "waits for -> held by" from it: the lock's recorded holder
// (mutex_core::holder_who()), that holder's own wait record, and so on. Reaching the waiter again
// is a candidate cycle. It is revalidated twice, 2 ms apart: every record, object and holder
// unchanged and every other member still parked — a holder recorded late (the instant between a
// lock's CAS and its holder store) or a waiter already woken cannot pass. A cycle made only of
// untimed waits can never resolve: the process ends (status 2; abort() with
// WEFT_DEADLOCK_CHECK=abort) after printing each member, the object it waits for and its
// backtrace. A cycle through a timed wait (try_lock_for/until, a timed join-free wait) resolves
// at that deadline: it is reported once as a warning and the program goes on. The walk runs only
// on the slow path (the waiter is about to park anyway) and only when the check is on: the
// uncontended lock is untouched. Readers of a shared_mutex are not tracked individually, so a
// writer waiting for readers to leave ends the walk (cannot tell).
//
// All asleep. A monitor thread samples every 100 ms: every worker of every runtime asleep with no
// timer, nothing queued and no descriptor registered; every fiber::blocking thread idle with no
// job queued; every other thread of the process a weft thread (named weft-*) or an OS thread
// waiting without a deadline on a weft object (its wait record says so); and someone waits (a
// parked fiber or such a thread). Two samples in a row with no progress between them (no switch,
// poll, park or thread wake-up anywhere) mean nobody can ever wake anybody: like Go's
// "all goroutines are asleep - deadlock!", the dump is printed and the process ends (status 2).
// It cannot tell — and says nothing — while any other thread exists (it might notify), while a
// timer or a socket is registered (a peer or a deadline might wake someone), or when /proc/self/task
// cannot be read. Threads blocked in std:: primitives or in plain syscalls count as "other".
#include <fiber/detail/debug_registry.hpp>
#include <fiber/detail/dump_internal.hpp>
#include <fiber/detail/os/cpu.hpp>
#include <fiber/detail/runtime_core.hpp>
#include <fiber/detail/sanitizers.hpp>
#include <sync/detail/mutex_core.hpp>
#include <sync/shared_mutex.hpp>

#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <type_traits>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace fiber::detail {

namespace {

int read_check_mode() noexcept {
  const char* v = std::getenv("WEFT_DEADLOCK_CHECK");
  if (!v || !*v || std::strcmp(v, "0") == 0) return 0;
  return std::strcmp(v, "abort") == 0 ? 2 : 1;
}
const int check_mode = read_check_mode();

[[noreturn]] void end_process() noexcept {
  std::fflush(stderr);
  if (check_mode == 2) std::abort();
  std::_Exit(2);
}

}  // namespace

bool deadlock_check_enabled = check_mode != 0;

namespace {

// A node of the wait-for graph: a fiber (its fiber_control*, as mutex holders record it) or an OS
// thread (its thread parker).
struct node_view {
  const void* who;
  const wait_record* rec;
  bool is_thread;
};

// Reads of another parker's record. It may be a control block being recycled for a new fiber at
// this moment (the walk is revalidated before anything is reported), so the loads go around the
// sanitizers: std::atomic's own load() is instrumented even when called from a WEFT_NO_SANITIZE
// function.
template <class T>
WEFT_NO_SANITIZE T peek(const std::atomic<T>& a) noexcept {
  static_assert(sizeof(std::atomic<T>) == sizeof(T), "a lock-free atomic is its value");
  if constexpr (std::is_enum_v<T>) {
    using U = std::underlying_type_t<T>;
    return static_cast<T>(__atomic_load_n(reinterpret_cast<const U*>(&a), __ATOMIC_ACQUIRE));
  } else {
    return __atomic_load_n(reinterpret_cast<const T*>(&a), __ATOMIC_ACQUIRE);
  }
}

WEFT_NO_SANITIZE node_view view_of(const void* who) noexcept {
  if (is_thread_parker(who)) return {who, &static_cast<const thread_parker*>(who)->wait, true};
  return {who, &static_cast<const fiber_control*>(who)->wait, false};
}

WEFT_NO_SANITIZE const parker* parker_of(const node_view& n) noexcept {
  if (n.is_thread) return static_cast<const thread_parker*>(n.who);
  return static_cast<const fiber_control*>(n.who);
}

struct edge {
  const void* who;
  wait_kind kind;
  const void* object;
  const void* holder;
  bool timed;
  bool operator==(const edge&) const = default;
};

// Whom `r` (the record of `who`) waits for, or null when the wait has no single owner.
WEFT_NO_SANITIZE const void* holder_of(const wait_record& r, wait_kind kind, const void* object,
                                       const void* who) noexcept {
  switch (kind) {
    case wait_kind::mutex: {
      const auto* m = static_cast<const mutex_core*>(object);
      if (!m->is_locked()) return nullptr;
      const void* h = m->holder_who();
      return h == who ? nullptr : h;
    }
    case wait_kind::shared_mutex_writer:
    case wait_kind::shared_mutex_reader: {
      const auto* s = static_cast<const shared_core*>(object);
      if (!s->writers().is_locked()) return nullptr;
      const void* h = s->writers().holder_who();
      return h == who ? nullptr : h;  // the writer itself waits for readers: not tracked
    }
    case wait_kind::join:
      return object;
    default:
      (void)r;
      return nullptr;
  }
}

// The common case, kept cheap: does following the graph from `me` come back to it? No allocation,
// no bookkeeping (a cycle not containing `me` is cut off by the depth limit).
WEFT_NO_SANITIZE bool comes_back(const void* me, const wait_record& mine) noexcept {
  const void* who = me;
  const wait_record* rec = &mine;
  for (int depth = 0; depth < 16; ++depth) {
    const wait_kind k = peek(rec->kind);
    if (k == wait_kind::none) return false;
    const void* next = holder_of(*rec, k, peek(rec->object), who);
    if (!next) return false;
    if (next == me) return true;
    who = next;
    rec = view_of(next).rec;
  }
  return false;
}

// Follows the graph from `me`; fills `path` and returns true when it comes back to `me`.
WEFT_NO_SANITIZE bool walk(const void* me, const wait_record& mine, std::vector<edge>& path) noexcept {
  path.clear();
  const void* who = me;
  const wait_record* rec = &mine;
  for (int depth = 0; depth < 64; ++depth) {
    const wait_kind k = peek(rec->kind);
    if (k == wait_kind::none) return false;
    const void* object = peek(rec->object);
    const void* next = holder_of(*rec, k, object, who);
    if (!next) return false;
    path.push_back({who, k, object, next, peek(rec->until_ns) != 0});
    if (next == me) return true;
    for (const edge& e : path)
      if (e.who == next) return false;  // a cycle that does not contain us: reported when it closed
    who = next;
    rec = view_of(next).rec;
  }
  return false;
}

WEFT_NO_SANITIZE bool others_parked(const std::vector<edge>& path, const void* me) noexcept {
  for (const edge& e : path) {
    if (e.who == me) continue;
    const std::uint64_t st = peek(parker_of(view_of(e.who))->word) & ps_mask;
    if (st != ps_parking && st != ps_parked) return false;
  }
  return true;
}

std::atomic<bool> reporting{false};

void report_cycle(const std::vector<edge>& path, bool fatal) {
  dump_doc doc;
  fiber_control* self = current_fiber();
  for (const edge& e : path) {
    const node_view n = view_of(e.who);
    if (n.is_thread) {
      thread_snapshot t;
      const auto* tp = static_cast<const thread_parker*>(e.who);
      t.parker = tp;
      t.tid = tp->tid.load(std::memory_order_relaxed);
      t.name = thread_name(t.tid);
      snapshot_wait(tp->wait, tp, t.wait);
      doc.threads.push_back(std::move(t));
    } else {
      auto* f = const_cast<fiber_control*>(static_cast<const fiber_control*>(e.who));
      doc.fibers.emplace_back();
      snapshot_started(f, f->home ? static_cast<int>(f->home->index()) : -1, f == self, doc.fibers.back());
      if (f == self) doc.fibers.back().state = fiber_view_state::parked;  // about to park for good
    }
  }
  finish_snapshots(doc);
  std::string title = fatal ? "weft: deadlock (WEFT_DEADLOCK_CHECK): a cycle of " + std::to_string(path.size()) +
                                  " waits that can never end; the process ends (status 2)"
                            : "weft: warning (WEFT_DEADLOCK_CHECK): a cycle of " + std::to_string(path.size()) +
                                  " waits that only a timeout can end";
  on_thread_stack([&] {
    symbolizer sym;
    print_text(stderr, doc, sym, title.c_str());
  });
}

}  // namespace

void check_wait_cycle(wait_record& mine) noexcept {
  // Our record is published; a waiter closing the same cycle at the same moment on another worker
  // must see it, or we see its record (Dekker: both fence before reading the other's).
  full_fence();
  const void* me = current_holder().who;
  if (!comes_back(me, mine)) return;
  std::vector<edge> path, again;
  try {
    if (!walk(me, mine, path)) return;
    for (int round = 0; round < 2; ++round) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      if (!walk(me, mine, again) || again != path || !others_parked(path, me)) return;
    }
    const bool timed = std::any_of(path.begin(), path.end(), [](const edge& e) { return e.timed; });
    if (timed) {
      static std::atomic<int> warnings{0};
      if (warnings.fetch_add(1) < 8) report_cycle(path, false);
      return;
    }
    if (reporting.exchange(true)) {
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));  // another fiber reports
    }
    report_cycle(path, true);
  } catch (...) {
    return;
  }
  end_process();
}

// ---------------------------------------------------------------- all asleep

namespace {

struct sample {
  bool asleep = false;
  std::uint64_t progress = 0;
  std::set<int> waiting_threads;
};

bool read_tasks(std::vector<int>& out) {
  DIR* d = ::opendir("/proc/self/task");
  if (!d) return false;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9') out.push_back(std::atoi(e->d_name));
  ::closedir(d);
  return true;
}

sample take_sample() {
  sample s;
  std::set<int> known;
  std::size_t parked = 0;
  {
    std::lock_guard reg(runtime_registry_lock());
    if (runtime_registry().empty()) return s;
    for (runtime_core* rt : runtime_registry()) {
      for (auto& wp : rt->workers()) {
        const worker& w = *wp;
        if (!w.looks_idle()) return s;
        const worker_counters& c = w.counters();
        s.progress += c.switches.load(std::memory_order_relaxed) + c.polls.load(std::memory_order_relaxed) +
                      c.parks.load(std::memory_order_relaxed) + c.remote_wakeups.load(std::memory_order_relaxed);
        parked += c.parked.load(std::memory_order_relaxed);
        known.insert(w.thread_id());
      }
    }
  }
  const blocking_pool_info bp = blocking_pool_snapshot();
  if (bp.idle != bp.threads || bp.queued != 0) return s;
  known.insert(bp.tids.begin(), bp.tids.end());
  for (thread_parker* t = all_thread_parkers(); t; t = t->all_next) {
    if (!t->in_use.load(std::memory_order_acquire)) continue;
    const wait_kind k = t->wait.kind.load(std::memory_order_acquire);
    if (k == wait_kind::none || t->wait.until_ns.load(std::memory_order_relaxed) != 0) continue;
    if ((t->word.load(std::memory_order_acquire) & ps_mask) != ps_parking) continue;  // not blocked (yet)
    s.waiting_threads.insert(t->tid.load(std::memory_order_relaxed));
  }
  if (parked == 0 && s.waiting_threads.empty()) return s;  // nobody waits on a weft object
  std::vector<int> tasks;
  if (!read_tasks(tasks)) return s;
  for (int tid : tasks) {
    if (known.count(tid) || s.waiting_threads.count(tid)) continue;
    if (thread_name(tid).rfind("weft-", 0) == 0) continue;  // the monitor, dump, watchdog threads
    return s;                                               // another thread might still notify someone: cannot tell
  }
  s.progress += thread_park_returns.load(std::memory_order_relaxed);
  s.asleep = true;
  return s;
}

}  // namespace

void start_deadlock_monitor() {
  std::thread([] {
    name_current_thread("weft-deadlock");
    sample last;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      sample now = take_sample();
      if (now.asleep && last.asleep && now.progress == last.progress && now.waiting_threads == last.waiting_threads) {
        std::fprintf(stderr,
                     "weft: all fibers are asleep - deadlock! (WEFT_DEADLOCK_CHECK: no runnable fiber, "
                     "timer, socket or blocking job, and no thread left that could wake one)\n");
        dump_text(stderr, "weft: the fibers and threads that wait");
        end_process();
      }
      last = std::move(now);
    }
  }).detach();
}

}  // namespace fiber::detail
