// sanitizers.hpp — WEFT_ASAN / WEFT_TSAN: whether this translation unit is built with AddressSanitizer
// or ThreadSanitizer (gcc and clang spell the test differently). Code that must behave differently
// under a sanitizer tests these, never the compiler macros directly.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

// WEFT_NO_SANITIZE: a function that reads memory it does not own by design (another context's raw
// stack words, a control block that may have been recycled) under an ordering the sanitizers cannot
// see. gcc spells "thread" as no_sanitize_thread.
#if defined(__clang__)
#define WEFT_NO_SANITIZE __attribute__((no_sanitize("address", "thread", "undefined")))
#elif defined(__GNUC__)
#define WEFT_NO_SANITIZE __attribute__((no_sanitize_address, no_sanitize_thread, no_sanitize_undefined))
#else
#define WEFT_NO_SANITIZE
#endif

#include <atomic>

namespace fiber::detail {

// A full (store-load) fence. ThreadSanitizer does not model std::atomic_thread_fence (g++ refuses
// it under -fsanitize=thread): there a seq_cst read-modify-write stands in (a locked instruction,
// the same ordering on x86-64).
inline void full_fence() noexcept {
#ifdef WEFT_TSAN
  static std::atomic<int> word{0};
  word.fetch_add(0, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

}  // namespace fiber::detail
