// thread_waiter_portable_default.cpp — os/thread_waiter.hpp on systems without a native backend:
// the portable bucket table is the thread waiter.
#include <fiber/detail/os/thread_waiter.hpp>

namespace fiber::detail {

void wait_on_word(std::atomic<std::uint64_t>& word, std::uint64_t expected, clock::time_point deadline) noexcept {
  portable_wait_on_word(word, expected, deadline);
}

void wake_word(std::atomic<std::uint64_t>& word) noexcept {
  portable_wake_word(word);
}

}  // namespace fiber::detail
