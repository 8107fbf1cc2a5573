// tsan_skips.hpp — what the pthread hook tests skip under ThreadSanitizer (WEFT_TSAN comes from
// fiber/detail/sanitizers.hpp).
//
// TSan's pthread_cond_{wait,timedwait,signal,broadcast} interceptors call glibc's versioned functions
// directly (dlvsym "GLIBC_2.3.2"), never an unversioned interposer, so the cond hooks switch themselves
// off under TSan (hook/cond_hooks.cpp) and a fiber's wait blocks its worker, as without hooks.
#pragma once

#include <gtest/gtest.h>

#include <fiber/detail/sanitizers.hpp>

#ifdef WEFT_TSAN
#define SKIP_COND_UNDER_TSAN() GTEST_SKIP() << "TSan's condvar interceptors bypass the hooks (see hook/cond_hooks.cpp)"
#else
#define SKIP_COND_UNDER_TSAN() (void)0
#endif
