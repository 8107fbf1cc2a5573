// barrier.hpp — fiber::barrier<Completion>: a reusable phase barrier with a completion step.
//
//   fiber::barrier sync(n, [&]() noexcept { ++generation; });
//   for (int i = 0; i < n; ++i)
//     fiber::spawn([&] { for (int step = 0; step < 10; ++step) { work(step); sync.arrive_and_wait(); } });
//
// Same interface and semantics as std::barrier (constexpr constructor): arrive(n) -> arrival_token, wait(token),
// arrive_and_wait(), arrive_and_drop(). When the last expected arrival of a phase comes in, that
// caller runs the completion function, then the phase advances and every waiter of the phase is
// released together. Waiting parks a fiber or blocks a plain OS thread.
// Invariants (all under one spinlock): remaining_ counts arrivals still missing in phase_; while
// the completion runs (outside the lock) `completing_` is set and early arrivals for the next
// phase wait for it to finish. Misuse (undefined in std): more arrivals than the phase expects
// complete the phase and print one line naming the caller (sync/detail/misuse.hpp).
#pragma once

#include <sync/detail/misuse.hpp>
#include <sync/detail/notify_list.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

namespace fiber {

namespace detail {
struct empty_completion {
  void operator()() noexcept {}
};
}  // namespace detail

template <class CompletionFunction = detail::empty_completion>
class barrier {
 public:
  class arrival_token {
   public:
    arrival_token(arrival_token&&) noexcept = default;
    arrival_token& operator=(arrival_token&&) noexcept = default;

   private:
    friend class barrier;
    explicit arrival_token(std::uint64_t phase) noexcept : phase_(phase) {}
    std::uint64_t phase_;
  };

  static constexpr std::ptrdiff_t max() noexcept { return std::numeric_limits<std::ptrdiff_t>::max(); }

  constexpr explicit barrier(std::ptrdiff_t expected, CompletionFunction f = CompletionFunction())
      : completion_(std::move(f)), expected_(expected), remaining_(expected) {}
  barrier(const barrier&) = delete;
  barrier& operator=(const barrier&) = delete;

  [[nodiscard]] arrival_token arrive(std::ptrdiff_t n = 1) { return arrival_token(arrive_impl(n, 0)); }

  void wait(arrival_token&& token) const {
    list_.guard().lock();
    while (phase_ == token.phase_) park_locked();
    list_.guard().unlock();
  }

  void arrive_and_wait() { wait(arrive()); }

  void arrive_and_drop() { (void)arrive_impl(1, 1); }

 private:
  // Called with the guard held; returns with it held.
  void park_locked() const {
    detail::waiter w;
    list_.enqueue_locked(w);
    list_.guard().unlock();
    {
      detail::wait_scope ws(detail::wait_kind::barrier, this);
      list_.park(w, detail::no_deadline);
    }
    list_.guard().lock();
  }

  std::uint64_t arrive_impl(std::ptrdiff_t n, std::ptrdiff_t drop) {
    list_.guard().lock();
    while (completing_) park_locked();  // the previous phase's completion still runs
    const std::uint64_t phase = phase_;
    if (n <= 0 || n > remaining_) {
      // Undefined in std: counted as the arrivals the phase still expects (it completes).
      detail::report_misuse("barrier", "arrive(n) with more arrivals than the phase still expects");
      n = n <= 0 ? 0 : remaining_;
    }
    expected_ -= drop;
    remaining_ -= n;
    if (remaining_ != 0) {
      list_.guard().unlock();
      return phase;
    }
    completing_ = true;
    list_.guard().unlock();
    completion_();  // std: runs on the last arriving caller before anyone is released
    list_.guard().lock();
    completing_ = false;
    remaining_ = expected_;
    ++phase_;
    list_.notify_all_locked();
    list_.guard().unlock();
    return phase;
  }

  CompletionFunction completion_;
  mutable detail::notify_list list_;  // its guard protects every field below
  std::ptrdiff_t expected_;           // arrivals per phase (arrive_and_drop lowers it)
  std::ptrdiff_t remaining_;          // arrivals still missing in the current phase
  std::uint64_t phase_ = 0;
  bool completing_ = false;
};

}  // namespace fiber
