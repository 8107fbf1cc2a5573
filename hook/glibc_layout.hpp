// glibc_layout.hpp — the fields of glibc's pthread_mutex_t and pthread_cond_t the pthread hooks read.
//
// Owns: the hooks' only knowledge of glibc's object layouts (x86_64/aarch64 glibc >= 2.25; checked
// against 2.36): a mutex's kind (type and protocol flags) and recursion count, a condition variable's
// __wrefs flags. Invariants: fields are only read, never written (glibc's functions do all writes),
// with relaxed atomic loads (another thread may be changing them); mutex_count is only meaningful
// while the calling thread owns the mutex (only the owner changes it).
#pragma once

#include <pthread.h>

namespace weft::hook::detail {

constexpr int mutex_type_mask = 3;                     // PTHREAD_MUTEX_KIND_MASK_NP
constexpr int mutex_passthrough_flags = 16 | 32 | 64;  // robust, prio-inherit, prio-protect
constexpr unsigned cond_shared_mask = 1;               // __wrefs bit 0: process-shared
constexpr unsigned cond_monotonic_mask = 2;            // __wrefs bit 1: CLOCK_MONOTONIC

inline int mutex_kind(const pthread_mutex_t* m) noexcept {
  return __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED);
}
inline unsigned mutex_count(const pthread_mutex_t* m) noexcept {
  return __atomic_load_n(&m->__data.__count, __ATOMIC_RELAXED);
}
inline unsigned cond_wrefs(const pthread_cond_t* c) noexcept {
  return __atomic_load_n(&c->__data.__wrefs, __ATOMIC_RELAXED);
}

}  // namespace weft::hook::detail
