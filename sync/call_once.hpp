// call_once.hpp — fiber::once_flag and fiber::call_once.
//
//   fiber::once_flag init;
//   fiber::call_once(init, [] { load_config(); });   // exactly one caller runs it; others wait
//
// Same semantics as std::call_once: callers that arrive while the function runs park (fiber) or
// block (OS thread) until it returns; if it throws, the exception reaches its caller and the next
// caller (or a waiting one) tries again. After a successful call every call_once is one acquire
// load. Fairness: waiters queue on a fiber::mutex (its Go-style fairness: none starves).
#pragma once

#include <sync/mutex.hpp>

#include <atomic>
#include <functional>
#include <mutex>
#include <utility>

namespace fiber {

class once_flag {
 public:
  constexpr once_flag() noexcept = default;
  once_flag(const once_flag&) = delete;
  once_flag& operator=(const once_flag&) = delete;

 private:
  template <class F, class... Args>
  friend void call_once(once_flag& flag, F&& f, Args&&... args);
  std::atomic<bool> done_{false};
  mutex m_;  // held by the caller running the function; the others queue on it
};

template <class F, class... Args>
void call_once(once_flag& flag, F&& f, Args&&... args) {
  if (flag.done_.load(std::memory_order_acquire)) return;
  std::lock_guard lk(flag.m_);
  if (flag.done_.load(std::memory_order_relaxed)) return;
  std::invoke(std::forward<F>(f), std::forward<Args>(args)...);  // throws: done_ stays false
  flag.done_.store(true, std::memory_order_release);
}

}  // namespace fiber
