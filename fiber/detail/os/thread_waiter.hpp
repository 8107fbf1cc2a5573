// thread_waiter.hpp — how a plain OS thread blocks: the one place weft waits in the kernel for a
// thread that is not a worker (a fiber parks instead; park.cpp uses this for threads).
//
//   wait_on_word(word, expected, deadline)  blocks while word == expected, until wake_word(word),
//                                           the steady deadline (no_deadline: none) or spuriously
//                                           (the futex compares only the low 32 bits: callers keep
//                                           a changing state there, see park.cpp);
//   wake_word(word)                         wakes every thread blocked on word.
// Callers always change the word before waking and re-check it after waking, so spurious returns
// are harmless and no wake-up is lost: a waker's change either happens before the wait starts
// (the kernel, or the bucket lock of the portable version, sees the new value and does not block)
// or its wake_word() finds the waiter blocked.
// Backends: Linux futex (thread_waiter_futex.cpp); elsewhere a portable table of mutex+condition
// variable buckets (thread_waiter_portable.cpp), which is also always built and tested on Linux.
#pragma once

#include <fiber/detail/deadline.hpp>

#include <atomic>
#include <cstdint>

namespace fiber::detail {

void wait_on_word(std::atomic<std::uint64_t>& word, std::uint64_t expected, clock::time_point deadline) noexcept;
void wake_word(std::atomic<std::uint64_t>& word) noexcept;

// The portable implementation under its own names (the platform one on systems without a native
// address-wait primitive; tests exercise it everywhere).
void portable_wait_on_word(std::atomic<std::uint64_t>& word, std::uint64_t expected,
                           clock::time_point deadline) noexcept;
void portable_wake_word(std::atomic<std::uint64_t>& word) noexcept;

}  // namespace fiber::detail
