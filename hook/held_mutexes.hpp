// held_mutexes.hpp — which pthread mutexes the fibers of this worker thread hold.
//
// Owns: a per-worker-thread list of records (mutex address, owning fiber, its detector state) for
// recursive and error-checking mutexes always, and for every kind while the lock detector
// (lock_check.hpp) is on. glibc's ownership is per OS thread and all fibers of a worker share one, so
// these records tell sibling fibers apart: a sibling waits instead of re-entering, and EDEADLK/EPERM
// are reported per fiber the way glibc reports them per thread.
// Invariants: fibers never migrate, so a worker's records are its own and need no lock; a record names
// its owner by fiber id (never reused, unlike the control block's address); at most one record per
// mutex (a recursive re-lock adds none); records of a fiber that ends are dropped while the detector
// is on (its fiber-local state is destroyed then) — without it, a recursive or error-checking mutex a
// finished fiber still holds stays owned, as a thread's would.
#pragma once

#include <pthread.h>

#include <cstdint>
#include <hook/lock_check.hpp>

namespace fiber::detail {
struct fiber_control;
}

namespace weft::hook::detail {

struct held_record {
  const pthread_mutex_t* m;
  std::uint64_t owner;                  // fiber id
  fiber::detail::fiber_control* fiber;  // for diagnostics
  fiber_lock_state* state;              // detector only (else null)
};

// This worker's record of `m`, or null.
held_record* find_held(const pthread_mutex_t* m) noexcept;
void add_held(const held_record& r);  // may throw std::bad_alloc
void drop_held(held_record* r) noexcept;
// Drops every record of the fiber whose detector state is `st`.
void drop_held_by(const fiber_lock_state* st) noexcept;

// Does this worker keep records of mutexes of this type (PTHREAD_MUTEX_*_NP)?
inline bool tracked(int type) noexcept {
  return type == PTHREAD_MUTEX_RECURSIVE_NP || type == PTHREAD_MUTEX_ERRORCHECK_NP || lock_check_enabled;
}

}  // namespace weft::hook::detail
