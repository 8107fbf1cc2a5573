// lock_check.hpp — the WEFT_HOOK_LOCK_CHECK=1 detector: fibers that block while holding a pthread mutex.
//
// Owns: the detector's switch (read once at load) and, per fiber, how many pthread mutexes it holds
// (a fiber-local slot created on first use; the mutex hooks count, mutex_hooks.cpp). Every hooked call
// about to park its fiber (a blocking read/write/accept/connect, poll/select/epoll_wait, a sleep, a
// condition-variable wait) calls note_blocking_call first, which names a fiber that parks while
// holding one; the mutex hooks also name a holder that parked or yielded while a sibling waits for its
// mutex, and a fiber that ends holding one (its records in held_mutexes.hpp are then forgotten).
// Invariants: with the detector off every entry is one load of a bool and no state is created; a
// fiber's state is touched only by that fiber (fibers never migrate); each fiber is named at most
// once, on stderr, and reporting never throws.
#pragma once

#include <string>

namespace weft::hook::detail {

void note_blocking_call(const char* call) noexcept;

struct fiber_lock_state {
  int held = 0;
  bool warned = false;
};

// Set once by a load-time constructor (WEFT_HOOK_LOCK_CHECK set and not "0"); read-only afterwards.
extern bool lock_check_enabled;

fiber_lock_state* current_lock_state() noexcept;

// The calling fiber's detector state (null when the detector is off, or if it cannot be allocated).
inline fiber_lock_state* lock_state() noexcept {
  return lock_check_enabled ? current_lock_state() : nullptr;
}

// Prints "weft: <who> <what>" unless the fiber owning `st` was already named (null `st`: nothing).
void warn_once(fiber_lock_state* st, const std::string& who, const char* what) noexcept;

}  // namespace weft::hook::detail
