// future.hpp — fiber::promise, future, shared_future, packaged_task, async.
//
//   auto f = fiber::async([](int x) { return x * 2; }, 21);   // runs on a new fiber
//   int v = f.get();                                           // parks (fiber) or blocks (thread)
//   fiber::promise<void> p; auto done = p.get_future();
//   std::thread([&] { p.set_value(); }).detach(); done.wait();  // any mix of fibers and threads
//
// Same interface and semantics as the std:: twins (future_status, future_error, future_errc and
// launch are std's own types). Errors are std's, thrown as std::future_error: broken_promise
// (promise or packaged_task destroyed unsatisfied), promise_already_satisfied,
// future_already_retrieved, no_state (any use of a moved-from / default object, including get()
// and wait() on an invalid future — std leaves those undefined; we throw).
// async(f, args...) and async(launch::async, ...) run f on a new fiber; launch::deferred runs it
// in the first caller of get()/wait(). As with std::async, the last future referring to an async
// result waits for the fiber in its destructor (so a discarded async() call is synchronous).
// Fairness: every waiter of a shared state is released together when it becomes ready.
// Invariant: the value/exception is written once, before `ready` is published under the state's
// guard; readers that saw `ready` never race with the writer.
#pragma once

#include <fiber/spawn.hpp>
#include <sync/detail/notify_list.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace fiber {

using std::future_errc;
using std::future_error;
using std::future_status;
using std::launch;

namespace detail {

[[noreturn]] void throw_future_error(future_errc e);

class future_state_base {
 public:
  future_state_base() = default;
  future_state_base(const future_state_base&) = delete;
  future_state_base& operator=(const future_state_base&) = delete;
  virtual ~future_state_base() = default;

  void wait();                                              // runs a deferred function first
  future_status wait_until(clock::time_point deadline);    // `deferred` for deferred states
  bool is_ready() const noexcept { return ready_.load(std::memory_order_acquire); }
  void take_future();                                       // future_already_retrieved on 2nd call

  // Writes the result exactly once: `store` runs outside the guard (it may run user code).
  template <class Store>
  void satisfy(Store&& store) {
    claim();
    try {
      store();
    } catch (...) {
      unclaim();
      throw;
    }
    publish();
  }
  void set_exception(std::exception_ptr e) {
    satisfy([&] { error_ = std::move(e); });
  }
  // Called by a promise/packaged_task destroyed without a result.
  void abandon() noexcept;
  void rethrow_if_error() const {
    if (error_) std::rethrow_exception(error_);
  }

 protected:
  virtual void run_deferred() {}
  bool deferred_ = false;  // set once at construction by async(launch::deferred)

 private:
  void claim();
  void unclaim() noexcept;
  void publish() noexcept;

  notify_list list_;        // its guard protects satisfied_, retrieved_, deferred_taken_
  std::atomic<bool> ready_{false};
  bool satisfied_ = false;  // a writer claimed the result (set once)
  bool retrieved_ = false;  // get_future() was called
  bool deferred_taken_ = false;
  std::exception_ptr error_;
};

template <class R>
struct future_state : future_state_base {
  std::optional<R> value;
};
template <class R>
struct future_state<R&> : future_state_base {
  R* value = nullptr;
};
template <>
struct future_state<void> : future_state_base {};

template <class R>
using state_ptr = std::shared_ptr<future_state<R>>;

template <class R>
void check_state(const state_ptr<R>& s) {
  if (!s) throw_future_error(future_errc::no_state);
}

}  // namespace detail

template <class R>
class shared_future;

template <class R>
class future {
 public:
  future() noexcept = default;
  future(future&&) noexcept = default;
  future& operator=(future&&) noexcept = default;
  future(const future&) = delete;
  future& operator=(const future&) = delete;

  R get() {
    detail::check_state(state_);
    auto s = std::move(state_);  // a future is invalid after get(), even when it throws
    s->wait();
    s->rethrow_if_error();
    if constexpr (std::is_void_v<R>) {
      return;
    } else if constexpr (std::is_reference_v<R>) {
      return *s->value;
    } else {
      return std::move(*s->value);
    }
  }
  shared_future<R> share() noexcept;
  bool valid() const noexcept { return state_ != nullptr; }
  void wait() const {
    detail::check_state(state_);
    state_->wait();
  }
  template <class Rep, class Period>
  future_status wait_for(const std::chrono::duration<Rep, Period>& d) const {
    detail::check_state(state_);
    return state_->wait_until(detail::steady_after(d));
  }
  template <class Clock, class Duration>
  future_status wait_until(const std::chrono::time_point<Clock, Duration>& t) const {
    detail::check_state(state_);
    return state_->wait_until(detail::to_steady(t));
  }

  explicit future(detail::state_ptr<R> s) noexcept : state_(std::move(s)) {}  // weft-internal

 private:
  friend class shared_future<R>;
  detail::state_ptr<R> state_;
};

template <class R>
class shared_future {
  using get_result = std::conditional_t<std::is_void_v<R> || std::is_reference_v<R>, R, const R&>;

 public:
  shared_future() noexcept = default;
  shared_future(const shared_future&) = default;
  shared_future(shared_future&&) noexcept = default;
  shared_future(future<R>&& f) noexcept : state_(std::move(f.state_)) {}
  shared_future& operator=(const shared_future&) = default;
  shared_future& operator=(shared_future&&) noexcept = default;

  get_result get() const {
    detail::check_state(state_);
    state_->wait();
    state_->rethrow_if_error();
    if constexpr (std::is_void_v<R>) {
      return;
    } else if constexpr (std::is_reference_v<R>) {
      return *state_->value;
    } else {
      return *state_->value;
    }
  }
  bool valid() const noexcept { return state_ != nullptr; }
  void wait() const {
    detail::check_state(state_);
    state_->wait();
  }
  template <class Rep, class Period>
  future_status wait_for(const std::chrono::duration<Rep, Period>& d) const {
    detail::check_state(state_);
    return state_->wait_until(detail::steady_after(d));
  }
  template <class Clock, class Duration>
  future_status wait_until(const std::chrono::time_point<Clock, Duration>& t) const {
    detail::check_state(state_);
    return state_->wait_until(detail::to_steady(t));
  }

 private:
  detail::state_ptr<R> state_;
};

template <class R>
shared_future<R> future<R>::share() noexcept {
  return shared_future<R>(std::move(*this));
}

namespace detail {

template <class R>
class promise_base {
 public:
  promise_base() : state_(std::make_shared<future_state<R>>()) {}
  promise_base(promise_base&&) noexcept = default;
  promise_base& operator=(promise_base&& o) noexcept {
    if (this != &o) {
      abandon();
      state_ = std::move(o.state_);
    }
    return *this;
  }
  ~promise_base() { abandon(); }

  future<R> get_future() {
    check_state(state_);
    state_->take_future();
    return future<R>(state_);
  }
  void set_exception(std::exception_ptr e) {
    check_state(state_);
    state_->set_exception(std::move(e));
  }
  void swap(promise_base& o) noexcept { state_.swap(o.state_); }

 protected:
  void abandon() noexcept {
    if (state_) state_->abandon();
  }
  state_ptr<R> state_;
};

}  // namespace detail

template <class R>
class promise : public detail::promise_base<R> {
 public:
  promise() = default;
  template <class Alloc>
  promise(std::allocator_arg_t, const Alloc&) : promise() {}
  void set_value(const R& v) { set([&] { this->state_->value.emplace(v); }); }
  void set_value(R&& v) { set([&] { this->state_->value.emplace(std::move(v)); }); }
  void swap(promise& o) noexcept { detail::promise_base<R>::swap(o); }

 private:
  template <class Store>
  void set(Store&& store) {
    detail::check_state(this->state_);
    this->state_->satisfy(store);
  }
};

template <class R>
class promise<R&> : public detail::promise_base<R&> {
 public:
  promise() = default;
  void set_value(R& v) {
    detail::check_state(this->state_);
    this->state_->satisfy([&] { this->state_->value = std::addressof(v); });
  }
  void swap(promise& o) noexcept { detail::promise_base<R&>::swap(o); }
};

template <>
class promise<void> : public detail::promise_base<void> {
 public:
  promise() = default;
  void set_value() {
    detail::check_state(this->state_);
    this->state_->satisfy([] {});
  }
  void swap(promise& o) noexcept { detail::promise_base<void>::swap(o); }
};

template <class R>
void swap(promise<R>& a, promise<R>& b) noexcept {
  a.swap(b);
}

namespace detail {

// Stores the result of invoking fn(args...) into the state (value or exception).
template <class R, class Fn, class... Args>
void fulfil(future_state<R>& s, Fn& fn, Args&&... args) {
  try {
    if constexpr (std::is_void_v<R>) {
      std::invoke(fn, std::forward<Args>(args)...);
      s.satisfy([] {});
    } else if constexpr (std::is_reference_v<R>) {
      R r = std::invoke(fn, std::forward<Args>(args)...);
      s.satisfy([&] { s.value = std::addressof(r); });
    } else {
      // Constructed straight into the state: the result is built exactly once.
      s.satisfy([&] { s.value.emplace(std::invoke(fn, std::forward<Args>(args)...)); });
    }
  } catch (const future_error& e) {
    if (e.code() == std::make_error_code(future_errc::promise_already_satisfied)) throw;
    s.set_exception(std::current_exception());
  } catch (...) {
    s.set_exception(std::current_exception());
  }
}

}  // namespace detail

template <class Signature>
class packaged_task;

template <class R, class... Args>
class packaged_task<R(Args...)> {
  struct callable {
    virtual ~callable() = default;
    virtual void run(detail::future_state<R>& s, Args&&... args) = 0;
  };
  template <class F>
  struct callable_impl final : callable {
    explicit callable_impl(F&& f) : fn(std::move(f)) {}
    explicit callable_impl(const F& f) : fn(f) {}
    void run(detail::future_state<R>& s, Args&&... args) override {
      detail::fulfil<R>(s, fn, std::forward<Args>(args)...);
    }
    F fn;
  };

 public:
  packaged_task() noexcept = default;
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, packaged_task> && std::is_invocable_r_v<R, std::decay_t<F>&, Args...>)
  explicit packaged_task(F&& f)
      : fn_(std::make_unique<callable_impl<std::decay_t<F>>>(std::forward<F>(f))),
        state_(std::make_shared<detail::future_state<R>>()) {}
  packaged_task(packaged_task&&) noexcept = default;
  packaged_task& operator=(packaged_task&& o) noexcept {
    if (this != &o) {
      abandon();
      fn_ = std::move(o.fn_);
      state_ = std::move(o.state_);
    }
    return *this;
  }
  packaged_task(const packaged_task&) = delete;
  packaged_task& operator=(const packaged_task&) = delete;
  ~packaged_task() { abandon(); }

  bool valid() const noexcept { return state_ != nullptr; }
  void swap(packaged_task& o) noexcept {
    fn_.swap(o.fn_);
    state_.swap(o.state_);
  }
  future<R> get_future() {
    detail::check_state(state_);
    state_->take_future();
    return future<R>(state_);
  }
  void operator()(Args... args) {
    detail::check_state(state_);
    if (state_->is_ready()) detail::throw_future_error(future_errc::promise_already_satisfied);
    fn_->run(*state_, std::forward<Args>(args)...);
  }
  // A fresh shared state for the same function (the old one is abandoned: broken_promise).
  void reset() {
    detail::check_state(state_);
    abandon();
    state_ = std::make_shared<detail::future_state<R>>();
  }

 private:
  void abandon() noexcept {
    if (state_) state_->abandon();
  }
  std::unique_ptr<callable> fn_;
  detail::state_ptr<R> state_;
};

namespace detail {

// async(launch::async): the fiber writes into the state; the state joins the fiber when the last
// future lets go of it (std::async's blocking destructor). The fiber holds no reference itself.
template <class R>
struct async_state final : future_state<R> {
  join_handle<void> fiber;
  ~async_state() override {
    if (fiber.joinable()) fiber.join();
  }
};

template <class R, class Fn>
struct deferred_state final : future_state<R> {
  explicit deferred_state(Fn&& f) : fn(std::move(f)) { this->deferred_ = true; }
  void run_deferred() override { fulfil<R>(*this, fn); }
  Fn fn;
};

}  // namespace detail

template <class F, class... Args>
[[nodiscard]] auto async(launch policy, F&& f, Args&&... args) {
  using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
  auto bound = [fn = std::decay_t<F>(std::forward<F>(f)),
                tup = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...)]() mutable -> R {
    return std::apply([&](auto&... a) -> R { return std::invoke(std::move(fn), std::move(a)...); }, tup);
  };
  using Bound = decltype(bound);
  if ((policy & launch::async) == launch::async || (policy & launch::deferred) != launch::deferred) {
    auto s = std::make_shared<detail::async_state<R>>();
    detail::async_state<R>* raw = s.get();
    s->fiber = fiber::spawn([raw, b = std::move(bound)]() mutable { detail::fulfil<R>(*raw, b); });
    return future<R>(std::move(s));
  }
  return future<R>(std::make_shared<detail::deferred_state<R, Bound>>(std::move(bound)));
}

template <class F, class... Args>
  requires(!std::is_same_v<std::remove_cvref_t<F>, launch>)
[[nodiscard]] auto async(F&& f, Args&&... args) {
  return fiber::async(launch::async | launch::deferred, std::forward<F>(f), std::forward<Args>(args)...);
}

}  // namespace fiber
