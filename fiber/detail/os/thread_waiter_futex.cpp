// thread_waiter_futex.cpp — os/thread_waiter.hpp on Linux: a private futex, absolute
// CLOCK_MONOTONIC deadline (FUTEX_WAIT_BITSET; steady_clock is CLOCK_MONOTONIC).
#include <fiber/detail/os/thread_waiter.hpp>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>

namespace fiber::detail {

namespace {
// The futex is the low half of the 64-bit word (little-endian on every Linux target we build for).
void* futex_address(std::atomic<std::uint64_t>& word) noexcept {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the futex half of the word assumes little-endian");
  static_assert(sizeof(std::atomic<std::uint64_t>) == 8, "a lock-free 64-bit word");
  return static_cast<void*>(&word);
}
}  // namespace

void wait_on_word(std::atomic<std::uint64_t>& word, std::uint64_t expected, clock::time_point deadline) noexcept {
  timespec abs{};
  const timespec* limit = nullptr;
  if (deadline != no_deadline) {
    const std::int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
    if (ns <= 0) return;
    abs = timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    limit = &abs;
  }
  ::syscall(SYS_futex, futex_address(word), FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
            static_cast<std::uint32_t>(expected), limit, nullptr, FUTEX_BITSET_MATCH_ANY);
}

void wake_word(std::atomic<std::uint64_t>& word) noexcept {
  ::syscall(SYS_futex, futex_address(word), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace fiber::detail
