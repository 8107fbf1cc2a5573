// pthread_originals.hpp — glibc's pthread_mutex_* and pthread_cond_* functions, for the pthread hooks.
//
// Owns: one shared, cached pointer per function (each accessor is an inline function, so every
// translation unit uses the same cache), resolved eagerly at load (pthread_originals.cpp) while no
// fiber runs and nothing else calls them. Invariants: all ten are guarded lookups (original.hpp): dlsym
// takes glibc's loader lock, i.e. calls pthread_mutex_lock — our hook — so if dlsym ever re-entered a
// mutex hook while this thread resolves one of them, glibc's exported __pthread_mutex_{lock,trylock,
// unlock} aliases serve instead (compat symbols bound by version: nobody interposes them). The
// condition-variable functions and the timed mutex functions have no such fallback (dlsym never calls them).
#pragma once

#include <pthread.h>
#include <time.h>

#include <hook/original.hpp>

#if defined(__x86_64__) && defined(__GLIBC__)
__asm__(".symver weft_glibc_mutex_lock, __pthread_mutex_lock@GLIBC_2.2.5");
__asm__(".symver weft_glibc_mutex_trylock, __pthread_mutex_trylock@GLIBC_2.2.5");
__asm__(".symver weft_glibc_mutex_unlock, __pthread_mutex_unlock@GLIBC_2.2.5");
extern "C" {
int weft_glibc_mutex_lock(pthread_mutex_t*) noexcept;
int weft_glibc_mutex_trylock(pthread_mutex_t*) noexcept;
int weft_glibc_mutex_unlock(pthread_mutex_t*) noexcept;
}
#define WEFT_GLIBC_MUTEX_ALIAS(name) &weft_glibc_mutex_##name
#else
#define WEFT_GLIBC_MUTEX_ALIAS(name) nullptr
#endif

namespace weft::hook::detail {

// libc_<name>(): glibc's `name`, one cache shared by every translation unit.
#define WEFT_PTHREAD_ORIGINAL(name, fallback) \
  inline auto libc_##name() noexcept {        \
    return WEFT_ORIG_GUARDED(name, fallback); \
  }

WEFT_PTHREAD_ORIGINAL(pthread_mutex_lock, WEFT_GLIBC_MUTEX_ALIAS(lock))
WEFT_PTHREAD_ORIGINAL(pthread_mutex_trylock, WEFT_GLIBC_MUTEX_ALIAS(trylock))
WEFT_PTHREAD_ORIGINAL(pthread_mutex_unlock, WEFT_GLIBC_MUTEX_ALIAS(unlock))
WEFT_PTHREAD_ORIGINAL(pthread_mutex_timedlock, nullptr)
WEFT_PTHREAD_ORIGINAL(pthread_mutex_clocklock, nullptr)
WEFT_PTHREAD_ORIGINAL(pthread_cond_wait, nullptr)
WEFT_PTHREAD_ORIGINAL(pthread_cond_timedwait, nullptr)
WEFT_PTHREAD_ORIGINAL(pthread_cond_clockwait, nullptr)
WEFT_PTHREAD_ORIGINAL(pthread_cond_signal, nullptr)
WEFT_PTHREAD_ORIGINAL(pthread_cond_broadcast, nullptr)

#undef WEFT_PTHREAD_ORIGINAL

}  // namespace weft::hook::detail

#undef WEFT_GLIBC_MUTEX_ALIAS
