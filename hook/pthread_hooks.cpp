// pthread_hooks.cpp — pthread_mutex_{lock,trylock,timedlock,clocklock,unlock} and
// pthread_cond_{wait,timedwait,clockwait,signal,broadcast}: std::mutex, std::recursive_mutex,
// std::timed_mutex and std::condition_variable on fibers.
//
// Owns: making a contended pthread mutex and a condition-variable wait park the calling fiber
// instead of its worker, so that two fibers of one worker can share a std::mutex or ping-pong on a
// std::condition_variable, and a fiber holding a std::mutex across a hooked read()/sleep() no longer
// deadlocks the worker when a sibling fiber wants the same mutex. Plus an opt-in detector
// (WEFT_HOOK_LOCK_CHECK=1) that names fibers that block while holding a pthread mutex.
//
// How:
// - The mutex stays glibc's: every acquisition on a fiber is glibc's own pthread_mutex_trylock, every
//   release glibc's pthread_mutex_unlock, so fibers, plain threads and glibc's own condvar code can
//   share one mutex. A fiber that finds it busy yields twice (a sibling that merely yielded while
//   holding it gets to run), then registers in `mutex_waiters` (buckets hashed by mutex address),
//   tries once more and parks with a back-off timeout (50 µs doubling to 1 ms). Every hooked unlock
//   (fiber or thread) wakes one registered waiter of that mutex, so a hand-over is prompt; the
//   timeout covers releases no hook sees (glibc's pthread_cond_wait unlocking for a thread waiter).
//   Registering before the last try means an unlock either is seen by the try or finds the waiter.
// - Recursive and error-checking mutexes: glibc's ownership is per OS thread, and all fibers of a
//   worker share one. `tls_held` (per worker thread; fibers never migrate) records which fiber
//   holds each such mutex locked on this thread, so a sibling fiber waits instead of re-entering,
//   EDEADLK / EPERM are reported for fibers the way glibc reports them for threads.
// - Condition variables: a fiber waiter links a node (on its own stack) into `cond_waiters` keyed by
//   the cond's address *before* it releases the mutex, then parks; signal/broadcast (from fibers
//   and threads alike) unlink and unpark fiber waiters, then always call glibc's signal/broadcast
//   for thread waiters (an extra wake-up is a spurious one, which POSIX allows). A waker whose
//   unpark loses against a timeout moves on to the next waiter, so no signal is lost. The waiter
//   then re-acquires the mutex through the fiber path above. Thread waiters use glibc's wait.
//
// Invariants:
// - Off a fiber every call is glibc's (plus, for unlock/signal/broadcast, a check of an atomic
//   counter of parked fiber waiters). On a fiber, nothing parks when hook/fd_table's internal_scope
//   is active, nor for a lock taken by weft itself (caller inside libweft_hook.so: weft's own locks
//   are leaf locks, one of them — the stack pool's — taken on the way out of a context switch) — those
//   block like libc. Under ASan/TSan their interceptors stand between weft's code and us and hide the
//   caller; a contended stack-pool lock may then park inside worker::after_switch, which only finishes
//   releasing the previous fiber's stack there and tolerates a nested switch.
// - glibc's functions are found with dlsym(RTLD_NEXT) once (eagerly at load); if dlsym ever re-entered
//   a mutex hook during that lookup, glibc's exported __pthread_mutex_* aliases serve instead.
// - Waiter nodes live on the parked fiber's stack and are only touched under their bucket's spinlock;
//   a waker never touches a node after a successful unpark.
// - Passed straight to glibc (block the worker on a fiber): robust, priority-inheritance and
//   priority-protect mutexes, waits on process-shared condition variables, and every condition-variable
//   wait in a process running ThreadSanitizer (see cond_hooks). Not hooked at all:
//   rwlocks (std::shared_mutex), spinlocks, barriers, sem_t. No fairness: a released mutex goes to
//   whoever tries first (as with glibc's normal mutexes); waits on a fiber are not cancellation points.
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fiber/detail/fiber_control.hpp>
#include <fiber/detail/spinlock.hpp>
#include <fiber/fiber_local.hpp>
#include <fiber/detail/park.hpp>
#include <fiber/this_fiber.hpp>
#include <hook/fd_table.hpp>
#include <hook/lock_check.hpp>
#include <hook/original.hpp>
#include <string>
#include <vector>

// glibc's exported aliases of its own mutex functions, which nobody interposes (compat symbols:
// bound by version). Only used if dlsym itself ever called a mutex hook while we resolve it.
#if defined(__x86_64__) && defined(__GLIBC__)
__asm__(".symver weft_glibc_mutex_lock, __pthread_mutex_lock@GLIBC_2.2.5");
__asm__(".symver weft_glibc_mutex_trylock, __pthread_mutex_trylock@GLIBC_2.2.5");
__asm__(".symver weft_glibc_mutex_unlock, __pthread_mutex_unlock@GLIBC_2.2.5");
extern "C" {
int weft_glibc_mutex_lock(pthread_mutex_t*) noexcept;
int weft_glibc_mutex_trylock(pthread_mutex_t*) noexcept;
int weft_glibc_mutex_unlock(pthread_mutex_t*) noexcept;
}
#define WEFT_GLIBC_ALIAS(name) &weft_glibc_mutex_##name
#else
#define WEFT_GLIBC_ALIAS(name) nullptr
#endif

namespace {

namespace fd = fiber::detail;
using fd::fiber_control;
using namespace std::chrono;

// ---------------------------------------------------------------------------------------------
// glibc's functions.

thread_local bool tls_resolving = false;

template <class Fn>
Fn resolve(std::atomic<void*>& slot, const char* name, Fn fallback) noexcept {
  void* p = slot.load(std::memory_order_acquire);
  if (p) return reinterpret_cast<Fn>(p);
  if (fallback && tls_resolving) return fallback;  // dlsym called back into a mutex hook
  tls_resolving = true;
  p = weft::hook::detail::resolve_next(name);
  tls_resolving = false;
  slot.store(p, std::memory_order_release);
  return reinterpret_cast<Fn>(p);
}

#define WEFT_LIBC(fn, fallback)                                                        \
  inline decltype(&::fn) libc_##fn() noexcept {                                          \
    static constinit std::atomic<void*> slot{nullptr};                                   \
    return resolve<decltype(&::fn)>(slot, #fn, fallback);                                \
  }
WEFT_LIBC(pthread_mutex_lock, WEFT_GLIBC_ALIAS(lock))
WEFT_LIBC(pthread_mutex_trylock, WEFT_GLIBC_ALIAS(trylock))
WEFT_LIBC(pthread_mutex_unlock, WEFT_GLIBC_ALIAS(unlock))
WEFT_LIBC(pthread_mutex_timedlock, nullptr)
WEFT_LIBC(pthread_mutex_clocklock, nullptr)
WEFT_LIBC(pthread_cond_wait, nullptr)
WEFT_LIBC(pthread_cond_timedwait, nullptr)
WEFT_LIBC(pthread_cond_clockwait, nullptr)
WEFT_LIBC(pthread_cond_signal, nullptr)
WEFT_LIBC(pthread_cond_broadcast, nullptr)
#undef WEFT_LIBC
#undef WEFT_GLIBC_ALIAS

// ---------------------------------------------------------------------------------------------
// glibc's object layouts (x86_64/aarch64 glibc >= 2.25; checked against 2.36).

constexpr int mutex_type_mask = 3;                       // PTHREAD_MUTEX_KIND_MASK_NP
constexpr int mutex_passthrough_flags = 16 | 32 | 64;    // robust, prio-inherit, prio-protect
constexpr unsigned cond_shared_mask = 1;                 // __wrefs bit 0: process-shared
constexpr unsigned cond_monotonic_mask = 2;              // __wrefs bit 1: CLOCK_MONOTONIC

int mutex_kind(const pthread_mutex_t* m) noexcept { return __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED); }
// Only meaningful while this thread owns the mutex (only the owner changes it).
unsigned mutex_count(const pthread_mutex_t* m) noexcept { return __atomic_load_n(&m->__data.__count, __ATOMIC_RELAXED); }
unsigned cond_wrefs(const pthread_cond_t* c) noexcept { return __atomic_load_n(&c->__data.__wrefs, __ATOMIC_RELAXED); }

// ---------------------------------------------------------------------------------------------
// Who is calling: a fiber allowed to park, or someone who gets glibc's behaviour.

// The executable segments of libweft_hook.so: a lock taken by weft's own code never parks.
std::uintptr_t self_lo = 0, self_hi = 0;

int find_self(dl_phdr_info* info, std::size_t, void* data) {
  const auto probe = reinterpret_cast<std::uintptr_t>(data);
  std::uintptr_t lo = UINTPTR_MAX, hi = 0;
  bool mine = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    const std::uintptr_t a = info->dlpi_addr + ph.p_vaddr, b = a + ph.p_memsz;
    lo = std::min(lo, a);
    hi = std::max(hi, b);
    if (probe >= a && probe < b) mine = true;
  }
  if (!mine) return 0;
  self_lo = lo;
  self_hi = hi;
  return 1;
}

bool called_by_weft(const void* return_address) noexcept {
  const auto a = reinterpret_cast<std::uintptr_t>(return_address);
  return a >= self_lo && a < self_hi;
}

// May the calling fiber park here? Not inside the hooks' own machinery, nor in a lock taken by weft.
bool may_park(const void* return_address) noexcept {
  return !weft::hook::detail::reentered() && !called_by_weft(return_address);
}

// ---------------------------------------------------------------------------------------------
// The detector (WEFT_HOOK_LOCK_CHECK=1): how many pthread mutexes each fiber holds.

bool lock_check = false;
std::size_t state_key = 0;

struct fiber_lock_state {
  int held = 0;
  bool warned = false;
};

void on_fiber_end(void* p) noexcept;

// The calling fiber's detector state (null when the detector is off).
fiber_lock_state* lock_state() noexcept {
  if (!lock_check) return nullptr;
  try {
    fd::local_slot& s = fd::local_slot_for(state_key);
    if (!s.value) {
      s.value = new fiber_lock_state;
      s.destroy = on_fiber_end;
    }
    return static_cast<fiber_lock_state*>(s.value);
  } catch (...) {
    return nullptr;
  }
}

void warn_once(fiber_lock_state* st, const std::string& who, const char* what) noexcept {
  if (!st || st->warned) return;
  st->warned = true;
  std::fprintf(stderr, "weft: %s %s\n", who.c_str(), what);
}

// ---------------------------------------------------------------------------------------------
// Mutexes held by fibers of this worker thread: recursive and error-checking ones always, every
// kind while the detector is on. Fibers never migrate, so one worker's records are its own.

struct held_record {
  const pthread_mutex_t* m;
  std::uint64_t owner;       // fiber id (never reused, unlike the control block's address)
  fiber_control* fiber;      // for diagnostics
  fiber_lock_state* state;   // detector only
};
thread_local std::vector<held_record> tls_held;

held_record* find_held(const pthread_mutex_t* m) noexcept {
  for (auto it = tls_held.rbegin(); it != tls_held.rend(); ++it)
    if (it->m == m) return &*it;
  return nullptr;
}

void drop_held(held_record* r) noexcept {
  *r = tls_held.back();
  tls_held.pop_back();
}

void on_fiber_end(void* p) noexcept {
  auto* st = static_cast<fiber_lock_state*>(p);
  if (st->held > 0) {
    try {
      if (fiber_control* f = fd::current_fiber()) warn_once(st, f->describe(), "finishes while holding a pthread mutex");
    } catch (...) {
    }
  }
  // Forget what it held: a later fiber must not inherit its records.
  for (std::size_t i = tls_held.size(); i-- > 0;)
    if (tls_held[i].state == st) drop_held(&tls_held[i]);
  delete st;
}

bool tracked(int type) noexcept { return type == PTHREAD_MUTEX_RECURSIVE_NP || type == PTHREAD_MUTEX_ERRORCHECK_NP || lock_check; }

// ---------------------------------------------------------------------------------------------
// Parked fibers, hashed by the address they wait on (a mutex or a condition variable).

struct waiter {
  const void* key = nullptr;
  fd::park_token token;
  waiter* prev = nullptr;
  waiter* next = nullptr;
  bool linked = false;
};

struct alignas(64) bucket {
  fd::spinlock lock;
  waiter* head = nullptr;
  waiter* tail = nullptr;
};

class wait_table {
 public:
  // Cheap test for the common case: no fiber parked anywhere in this table.
  bool empty() const noexcept { return waiting_.load(std::memory_order_seq_cst) == 0; }

  void enqueue(waiter& w) noexcept {
    bucket& b = bucket_for(w.key);
    b.lock.lock();
    w.prev = b.tail;
    w.next = nullptr;
    (b.tail ? b.tail->next : b.head) = &w;
    b.tail = &w;
    w.linked = true;
    waiting_.fetch_add(1, std::memory_order_seq_cst);
    b.lock.unlock();
  }

  // Unlinks w if nobody popped it. True if it was still linked.
  bool remove(waiter& w) noexcept {
    bucket& b = bucket_for(w.key);
    b.lock.lock();
    const bool was = w.linked;
    if (was) unlink(b, w);
    b.lock.unlock();
    return was;
  }

  // Re-arms a still-linked waiter with a fresh token (a timed wait whose clock is not there yet).
  bool rearm(waiter& w) noexcept {
    bucket& b = bucket_for(w.key);
    b.lock.lock();
    const bool was = w.linked;
    if (was) w.token = fd::prepare_park();
    b.lock.unlock();
    return was;
  }

  // Wakes one (or every) fiber parked on `key`; waiters whose park already ended are skipped.
  int wake(const void* key, bool all) noexcept {
    bucket& b = bucket_for(key);
    int n = 0;
    b.lock.lock();
    for (waiter* w = b.head; w;) {
      waiter* next = w->next;  // read first: w may vanish once unparked
      if (w->key == key) {
        unlink(b, *w);
        if (fd::unpark(w->token)) {
          ++n;
          if (!all) break;
        }
      }
      w = next;
    }
    b.lock.unlock();
    return n;
  }

 private:
  static constexpr int bits = 6;
  bucket& bucket_for(const void* key) noexcept {
    auto x = reinterpret_cast<std::uintptr_t>(key);
    x = (x ^ (x >> 17)) * 0x9E3779B97F4A7C15ull;
    return buckets_[x >> (64 - bits)];
  }
  void unlink(bucket& b, waiter& w) noexcept {
    (w.prev ? w.prev->next : b.head) = w.next;
    (w.next ? w.next->prev : b.tail) = w.prev;
    w.prev = w.next = nullptr;
    w.linked = false;
    waiting_.fetch_sub(1, std::memory_order_relaxed);
  }

  bucket buckets_[1 << bits];
  std::atomic<long> waiting_{0};
};

constinit wait_table mutex_waiters;
constinit wait_table cond_waiters;

// ---------------------------------------------------------------------------------------------
// Time.

bool valid_nsec(const timespec* ts) noexcept { return ts->tv_nsec >= 0 && ts->tv_nsec < 1'000'000'000; }
bool lock_clock_ok(clockid_t clk) noexcept { return clk == CLOCK_REALTIME || clk == CLOCK_MONOTONIC; }

timespec now_on(clockid_t clk) noexcept {
  timespec now{};
  ::clock_gettime(clk, &now);
  return now;
}

bool reached(clockid_t clk, const timespec& abs) noexcept {
  const timespec now = now_on(clk);
  return now.tv_sec > abs.tv_sec || (now.tv_sec == abs.tv_sec && now.tv_nsec >= abs.tv_nsec);
}

// The steady-clock instant at which `clk` is expected to read `abs`.
fd::clock::time_point steady_deadline(clockid_t clk, const timespec& abs) noexcept {
  const timespec now = now_on(clk);
  const auto steady_now = fd::clock::now();
  const long long ds = static_cast<long long>(abs.tv_sec) - static_cast<long long>(now.tv_sec);
  if (ds > 100LL * 365 * 24 * 3600) return fd::no_deadline;
  if (ds < -1) return steady_now;
  const nanoseconds left = seconds(ds) + nanoseconds(abs.tv_nsec - now.tv_nsec);
  return left <= nanoseconds::zero() ? steady_now : steady_now + left;
}

// ---------------------------------------------------------------------------------------------
// Mutexes on a fiber.

void note_acquired(pthread_mutex_t* m, int type, fiber_control* self, bool fresh) {
  fiber_lock_state* st = lock_state();
  if (st) ++st->held;
  if (fresh && tracked(type)) tls_held.push_back({m, self->id, self, st});
}

// One attempt: 0, EBUSY (someone else holds it), EDEADLK (error-checking, held by this very fiber),
// EAGAIN (recursion count overflow). `trylock` gives glibc's trylock answers (EBUSY, not EDEADLK).
int try_acquire(pthread_mutex_t* m, int type, fiber_control* self, bool trylock) noexcept {
  if (type == PTHREAD_MUTEX_RECURSIVE_NP || type == PTHREAD_MUTEX_ERRORCHECK_NP) {
    if (held_record* r = find_held(m)) {
      if (r->owner != self->id) return EBUSY;  // a sibling fiber of this worker owns it
      if (type == PTHREAD_MUTEX_ERRORCHECK_NP) return trylock ? EBUSY : EDEADLK;
      const int rc = libc_pthread_mutex_trylock()(m);  // our own recursion: glibc counts it
      if (rc == 0) note_acquired(m, type, self, false);
      return rc;
    }
    const int rc = libc_pthread_mutex_trylock()(m);
    if (rc != 0) return rc;
    if (type == PTHREAD_MUTEX_RECURSIVE_NP && mutex_count(m) > 1) {
      // This thread held it outside any fiber (weft internals): not ours to re-enter.
      libc_pthread_mutex_unlock()(m);
      return EBUSY;
    }
    note_acquired(m, type, self, true);
    return 0;
  }
  const int rc = libc_pthread_mutex_trylock()(m);
  if (rc == 0) note_acquired(m, type, self, true);
  return rc;
}

void report_parked_holder(const pthread_mutex_t* m, fiber_control* self) noexcept {
  if (!lock_check) return;
  held_record* r = find_held(m);
  if (!r || r->owner == self->id || !r->state || r->state->warned) return;
  try {
    const std::string what = "blocks (parked or yielded) while holding a pthread mutex that " + self->describe() +
                             " on the same worker waits for";
    warn_once(r->state, r->fiber->describe(), what.c_str());
  } catch (...) {
  }
}

// The contended path: yield, then park in mutex_waiters with a growing timeout, until the mutex is
// ours, or `abs` (on `clk`) has passed.
int lock_slow(pthread_mutex_t* m, int type, fiber_control* self, clockid_t clk, const timespec* abs) noexcept {
  if (abs) {
    if (!valid_nsec(abs)) return EINVAL;
    if (abs->tv_sec < 0) return ETIMEDOUT;
  }
  report_parked_holder(m, self);
  fiber::detail::wait_scope ws(fiber::detail::wait_kind::pthread_mutex, m);  // fiber::dump()
  nanoseconds backoff = microseconds(50);
  for (int round = 0;; ++round) {
    int rc;
    if (round < 2) {
      fiber::this_fiber::yield();
      rc = try_acquire(m, type, self, false);
    } else {
      waiter w;
      w.key = m;
      w.token = fd::prepare_park();
      mutex_waiters.enqueue(w);
      rc = try_acquire(m, type, self, false);  // an unlock before this point is seen here
      if (rc == EBUSY) {
        auto until = fd::clock::now() + backoff;
        if (abs) until = std::min(until, steady_deadline(clk, *abs));
        fd::park_until(w.token, until);
        backoff = std::min<nanoseconds>(backoff * 2, milliseconds(1));
      }
      mutex_waiters.remove(w);
      if (rc == EBUSY) rc = try_acquire(m, type, self, false);
    }
    if (rc != EBUSY) return rc;
    if (abs && reached(clk, *abs)) return ETIMEDOUT;
  }
}

// `return_address`: the hooked call's caller (null: known to be allowed to park).
int lock_on_fiber(pthread_mutex_t* m, int type, fiber_control* self, clockid_t clk, const timespec* abs,
                  const void* return_address) noexcept {
  int rc = try_acquire(m, type, self, false);
  if (rc != EBUSY) return rc;
  if (!return_address || may_park(return_address)) return lock_slow(m, type, self, clk, abs);
  // Not allowed to park: block like glibc.
  const bool fresh = !find_held(m);
  rc = abs ? libc_pthread_mutex_clocklock()(m, clk, abs) : libc_pthread_mutex_lock()(m);
  if (rc == 0) note_acquired(m, type, self, fresh);
  return rc;
}

int unlock_any(pthread_mutex_t* m) noexcept {
  const int kind = mutex_kind(m);
  const int type = kind & mutex_type_mask;
  fiber_control* self;
  if (tracked(type) && !(kind & mutex_passthrough_flags) && (self = fd::current_fiber())) {
    if (held_record* r = find_held(m)) {
      const bool mine = r->owner == self->id;
      // A sibling fiber's recursive/error-checking mutex: glibc would accept it (same thread).
      if (!mine && (type == PTHREAD_MUTEX_RECURSIVE_NP || type == PTHREAD_MUTEX_ERRORCHECK_NP)) return EPERM;
      if (!mine || type != PTHREAD_MUTEX_RECURSIVE_NP || mutex_count(m) <= 1) drop_held(r);
    }
    if (fiber_lock_state* st = lock_state(); st && st->held > 0) --st->held;
  }
  const int rc = libc_pthread_mutex_unlock()(m);
  // `m` may be destroyed by its next owner from here on: only its address is used below.
  if (rc == 0 && !mutex_waiters.empty()) mutex_waiters.wake(m, false);
  return rc;
}

// ---------------------------------------------------------------------------------------------
// Condition variables on a fiber.

int cond_wait_on_fiber(const char* call, pthread_cond_t* c, pthread_mutex_t* m, int type, fiber_control* self,
                       clockid_t clk, const timespec* abs) noexcept {
  waiter w;
  w.key = c;
  w.token = fd::prepare_park();
  cond_waiters.enqueue(w);  // before the mutex is released: a signal after that finds us
  if (const int rc = unlock_any(m); rc != 0) {
    cond_waiters.remove(w);
    return rc;
  }
  if (fiber_lock_state* st = lock_state(); st && st->held > 0) {
    try {
      warn_once(st, self->describe(), ("blocks in " + std::string(call) + " while holding a pthread mutex").c_str());
    } catch (...) {
    }
  }
  int result = 0;
  fiber::detail::wait_scope ws(fiber::detail::wait_kind::pthread_cond, c, 0, m);  // fiber::dump()
  for (;;) {
    const auto until = abs ? steady_deadline(clk, *abs) : fd::no_deadline;
    if (fd::park_until(w.token, until) == fd::wake_reason::notified) break;
    // Timed out by the steady clock. A CLOCK_REALTIME deadline is re-checked on its own clock.
    if (abs && !reached(clk, *abs) && cond_waiters.rearm(w)) continue;
    if (cond_waiters.remove(w)) {
      result = ETIMEDOUT;
    } else {
      // Popped by a waker whose unpark lost to our timeout: it went on to the next waiter.
      result = abs && reached(clk, *abs) ? ETIMEDOUT : 0;
    }
    break;
  }
  // Re-acquire like pthread_cond_wait does: without a deadline.
  const int rc = lock_on_fiber(m, type, self, CLOCK_MONOTONIC, nullptr, nullptr);
  return rc != 0 ? rc : result;
}

// A wait that goes to glibc (thread, weft internals, process-shared cond, robust/PI mutex)?
// Off under ThreadSanitizer: its pthread_cond_{wait,timedwait,signal,broadcast} interceptors call glibc's
// GLIBC_2.3.2 versions found with dlvsym, which never returns an unversioned interposer like ours, so
// a fiber parked here would never be signalled. (Its pthread_mutex_* interceptors do reach our hooks.)
bool cond_hooks = true;

fiber_control* cond_parking_fiber(const pthread_cond_t* c, const pthread_mutex_t* m, const void* ra) noexcept {
  if (!cond_hooks) return nullptr;
  fiber_control* self = fd::current_fiber();
  if (!self || !may_park(ra)) return nullptr;
  if ((cond_wrefs(c) & cond_shared_mask) || (mutex_kind(m) & mutex_passthrough_flags)) return nullptr;
  return self;
}

__attribute__((constructor)) void init_pthread_hooks() {
  dl_iterate_phdr(find_self, reinterpret_cast<void*>(&find_self));
  if (::dlsym(RTLD_DEFAULT, "__tsan_init")) cond_hooks = false;
  const char* e = std::getenv("WEFT_HOOK_LOCK_CHECK");
  if (e && *e && std::strcmp(e, "0") != 0) {
    state_key = fd::allocate_local_key();
    lock_check = true;
  }
  // Resolve glibc's functions now, while no fiber runs and nothing else calls them.
  (void)libc_pthread_mutex_lock();
  (void)libc_pthread_mutex_trylock();
  (void)libc_pthread_mutex_unlock();
  (void)libc_pthread_mutex_timedlock();
  (void)libc_pthread_mutex_clocklock();
  (void)libc_pthread_cond_wait();
  (void)libc_pthread_cond_timedwait();
  (void)libc_pthread_cond_clockwait();
  (void)libc_pthread_cond_signal();
  (void)libc_pthread_cond_broadcast();
}

}  // namespace

void weft::hook::detail::note_blocking_call(const char* call) noexcept {
  fiber::detail::note_wait_via(call);  // fiber::dump() names the hooked call the next wait serves
  if (!lock_check || !fiber::detail::in_fiber()) return;
  fiber_lock_state* st = lock_state();
  if (!st || st->held <= 0 || st->warned) return;
  try {
    if (fiber_control* f = fd::current_fiber()) {
      const std::string what = std::string("blocks in ") + call + " while holding a pthread mutex";
      warn_once(st, f->describe(), what.c_str());
    }
  } catch (...) {
  }
}

extern "C" {

int pthread_mutex_lock(pthread_mutex_t* m) noexcept {
  fiber_control* self = fd::current_fiber();
  if (!self) return libc_pthread_mutex_lock()(m);
  const int kind = mutex_kind(m);
  if (kind & mutex_passthrough_flags) return libc_pthread_mutex_lock()(m);
  return lock_on_fiber(m, kind & mutex_type_mask, self, CLOCK_MONOTONIC, nullptr, __builtin_return_address(0));
}

int pthread_mutex_trylock(pthread_mutex_t* m) noexcept {
  fiber_control* self = fd::current_fiber();
  if (!self) return libc_pthread_mutex_trylock()(m);
  const int kind = mutex_kind(m);
  const int type = kind & mutex_type_mask;
  if ((kind & mutex_passthrough_flags) || !tracked(type)) return libc_pthread_mutex_trylock()(m);
  return try_acquire(m, type, self, true);
}

int pthread_mutex_clocklock(pthread_mutex_t* m, clockid_t clk, const timespec* abs) noexcept {
  fiber_control* self = fd::current_fiber();
  if (!self) return libc_pthread_mutex_clocklock()(m, clk, abs);
  const int kind = mutex_kind(m);
  if (kind & mutex_passthrough_flags) return libc_pthread_mutex_clocklock()(m, clk, abs);
  if (!lock_clock_ok(clk)) return EINVAL;
  return lock_on_fiber(m, kind & mutex_type_mask, self, clk, abs, __builtin_return_address(0));
}

int pthread_mutex_timedlock(pthread_mutex_t* m, const timespec* abs) noexcept {
  fiber_control* self = fd::current_fiber();
  if (!self) return libc_pthread_mutex_timedlock()(m, abs);
  const int kind = mutex_kind(m);
  if (kind & mutex_passthrough_flags) return libc_pthread_mutex_timedlock()(m, abs);
  return lock_on_fiber(m, kind & mutex_type_mask, self, CLOCK_REALTIME, abs, __builtin_return_address(0));
}

int pthread_mutex_unlock(pthread_mutex_t* m) noexcept { return unlock_any(m); }

int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
  fiber_control* self = cond_parking_fiber(c, m, __builtin_return_address(0));
  if (!self) return libc_pthread_cond_wait()(c, m);
  return cond_wait_on_fiber("pthread_cond_wait", c, m, mutex_kind(m) & mutex_type_mask, self, CLOCK_MONOTONIC, nullptr);
}

int pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m, const timespec* abs) {
  fiber_control* self = cond_parking_fiber(c, m, __builtin_return_address(0));
  if (!self) return libc_pthread_cond_timedwait()(c, m, abs);
  if (!valid_nsec(abs)) return EINVAL;
  const clockid_t clk = (cond_wrefs(c) & cond_monotonic_mask) ? CLOCK_MONOTONIC : CLOCK_REALTIME;
  return cond_wait_on_fiber("pthread_cond_timedwait", c, m, mutex_kind(m) & mutex_type_mask, self, clk, abs);
}

int pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clk, const timespec* abs) {
  fiber_control* self = cond_parking_fiber(c, m, __builtin_return_address(0));
  if (!self) return libc_pthread_cond_clockwait()(c, m, clk, abs);
  if (!lock_clock_ok(clk) || !valid_nsec(abs)) return EINVAL;
  return cond_wait_on_fiber("pthread_cond_clockwait", c, m, mutex_kind(m) & mutex_type_mask, self, clk, abs);
}

int pthread_cond_signal(pthread_cond_t* c) noexcept {
  if (!cond_waiters.empty()) cond_waiters.wake(c, false);
  return libc_pthread_cond_signal()(c);
}

int pthread_cond_broadcast(pthread_cond_t* c) noexcept {
  if (!cond_waiters.empty()) cond_waiters.wake(c, true);
  return libc_pthread_cond_broadcast()(c);
}

}  // extern "C"
