// assert.hpp — WEFT_ASSERT(condition, "what broke"): an invariant checked where it must hold (fiber
// state transitions, park/unpark, lock ownership), so a broken invariant fails loudly at its cause
// instead of three switches later. Active in debug builds and in every sanitizer build (which are
// built with NDEBUG); compiled out of release builds.
#pragma once

#include <fiber/detail/sanitizers.hpp>

#if !defined(NDEBUG) || defined(WEFT_ASAN) || defined(WEFT_TSAN)
#define WEFT_CHECKS 1
#endif

namespace fiber::detail {
[[noreturn]] void assertion_failed(const char* condition, const char* what, const char* file, int line) noexcept;
}  // namespace fiber::detail

#if defined(WEFT_CHECKS)
#define WEFT_ASSERT(condition, what) \
  ((condition) ? void(0) : ::fiber::detail::assertion_failed(#condition, what, __FILE__, __LINE__))
#else
#define WEFT_ASSERT(condition, what) void(0)
#endif
