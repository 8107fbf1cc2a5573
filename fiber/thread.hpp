// thread.hpp — fiber::thread and fiber::jthread: std::thread and std::jthread, on fibers.
//
//   fiber::thread t([](int n) { work(n); }, 7);   // was: std::thread t(...)
//   t.join();
//
// Same interface and semantics as the std types: destroying a joinable fiber::thread (or
// assigning over one) calls std::terminate; an exception escaping the function calls
// std::terminate (after printing what() and the fiber's name); join()/detach() on a non-joinable
// object throw std::system_error(invalid_argument); joining yourself throws
// resource_deadlock_would_occur. jthread requests stop and joins on destruction, and passes its
// std::stop_token to a function that takes one first.
#pragma once

#include <fiber/spawn.hpp>

#include <exception>
#include <stop_token>
#include <thread>
#include <utility>

namespace fiber {

namespace detail {
// Spawns what fiber::thread and fiber::jthread run: the decay-copied call (jthread offers its stop
// token, thread never does), its result discarded, an escaping exception ending the process.
template <class Call, class F, class... Args>
join_handle<void> spawn_thread(F&& f, Args&&... args) {
  return spawn_in_place<discard_result<Call>>(nullptr, spawn_options{}, on_uncaught::terminate, std::forward<F>(f),
                                              std::forward<Args>(args)...);
}
}  // namespace detail

class thread {
 public:
  using id = fiber_id;

  thread() noexcept = default;
  template <class F, class... Args>
  requires(!std::is_same_v<std::remove_cvref_t<F>, thread>) explicit thread(F&& f, Args&&... args)
      : h_(detail::spawn_thread<detail::bound_call_for<F, Args...>>(std::forward<F>(f), std::forward<Args>(args)...)) {}
  ~thread() {
    if (joinable()) std::terminate();
  }
  thread(thread&&) noexcept = default;
  thread& operator=(thread&& o) noexcept {
    if (joinable()) std::terminate();
    h_ = std::move(o.h_);
    return *this;
  }
  thread(const thread&) = delete;
  thread& operator=(const thread&) = delete;

  bool joinable() const noexcept { return h_.joinable(); }
  id get_id() const noexcept { return h_.get_id(); }
  void join() { h_.join(); }
  void detach() { h_.detach(); }
  void swap(thread& o) noexcept { std::swap(h_, o.h_); }
  static unsigned hardware_concurrency() noexcept { return std::thread::hardware_concurrency(); }

 private:
  join_handle<void> h_;
};

inline void swap(thread& a, thread& b) noexcept {
  a.swap(b);
}

class jthread {
 public:
  using id = fiber_id;

  jthread() noexcept = default;
  template <class F, class... Args>
  requires(!std::is_same_v<std::remove_cvref_t<F>, jthread>) explicit jthread(F&& f, Args&&... args)
      : h_(detail::spawn_thread<detail::stoppable_call_for<F, Args...>>(std::forward<F>(f),
                                                                        std::forward<Args>(args)...)),
        stop_(h_.get_stop_source()) {}
  ~jthread() {
    if (joinable()) {
      request_stop();
      join();
    }
  }
  jthread(jthread&&) noexcept = default;
  jthread& operator=(jthread&& o) noexcept {
    if (this != &o) {
      if (joinable()) {
        request_stop();
        join();
      }
      h_ = std::move(o.h_);
      stop_ = std::move(o.stop_);
    }
    return *this;
  }
  jthread(const jthread&) = delete;
  jthread& operator=(const jthread&) = delete;

  bool joinable() const noexcept { return h_.joinable(); }
  id get_id() const noexcept { return h_.get_id(); }
  void join() { h_.join(); }
  void detach() { h_.detach(); }
  void swap(jthread& o) noexcept {
    std::swap(h_, o.h_);
    std::swap(stop_, o.stop_);
  }
  std::stop_source get_stop_source() noexcept { return stop_; }
  std::stop_token get_stop_token() const noexcept { return stop_.get_token(); }
  bool request_stop() noexcept { return stop_.request_stop(); }
  static unsigned hardware_concurrency() noexcept { return std::thread::hardware_concurrency(); }

 private:
  join_handle<void> h_;
  std::stop_source stop_{std::nostopstate};
};

inline void swap(jthread& a, jthread& b) noexcept {
  a.swap(b);
}

}  // namespace fiber
