// thread_waiter_portable.cpp — os/thread_waiter.hpp without a kernel address-wait primitive: waiters
// sleep on the condition variable of a bucket chosen by the word's address. The word is compared
// under the bucket's mutex and every waker takes that mutex before notifying, so a change made
// before wake_word() is always seen (no lost wake-up). Buckets are never destroyed (threads may
// wait during static destruction).
#include <fiber/detail/os/thread_waiter.hpp>

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace fiber::detail {

namespace {

struct bucket {
  std::mutex m;
  std::condition_variable cv;
};

constexpr std::size_t bucket_count = 64;

bucket& bucket_for(const void* addr) noexcept {
  static auto* buckets = new bucket[bucket_count];  // NOLINT(bugprone-unhandled-exception-at-new): at first use; out of
                                                    // memory there is fatal
  auto a = reinterpret_cast<std::uintptr_t>(addr);
  return buckets[(a >> 4) % bucket_count];
}

}  // namespace

void portable_wait_on_word(std::atomic<std::uint64_t>& word, std::uint64_t expected,
                           clock::time_point deadline) noexcept {
  bucket& b = bucket_for(&word);
  std::unique_lock lk(b.m);
  if (word.load(std::memory_order_acquire) != expected) return;
  if (deadline == no_deadline) {
    b.cv.wait(lk);
  } else {
    b.cv.wait_until(lk, deadline);
  }
}

void portable_wake_word(std::atomic<std::uint64_t>& word) noexcept {
  bucket& b = bucket_for(&word);
  std::lock_guard lk(b.m);
  b.cv.notify_all();
}

}  // namespace fiber::detail
