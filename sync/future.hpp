// future.hpp — fiber::promise, future, shared_future, packaged_task, async.
//
//   auto f = fiber::async([](int x) { return x * 2; }, 21);   // runs on a new fiber
//   int v = f.get();                                           // parks (fiber) or blocks (thread)
//   fiber::promise<void> p; auto done = p.get_future();
//   std::thread([&] { p.set_value(); }).detach(); done.wait();  // any mix of fibers and threads
//
// Same interface and semantics as the std:: twins (future_status, future_error, future_errc,
// future_category and launch are std's own). Errors are std's, thrown as std::future_error:
// broken_promise (promise or packaged_task destroyed unsatisfied), promise_already_satisfied,
// future_already_retrieved, no_state (any use of a moved-from / default object, including get()
// and wait() on an invalid future — std leaves those undefined; we throw).
// async(f, args...) and async(launch::async, ...) run f on a new fiber; launch::deferred runs it
// in the first caller of get()/wait(). Arguments are decay-copied once, as std::async does
// (std::ref passes a reference). As with std::async, the last future referring to an async result
// waits for the fiber in its destructor (so a discarded async() call is synchronous).
// The *_at_thread_exit forms store the result at once (a second set_value throws) and make the
// state ready when the calling fiber ends — or, called from a plain OS thread, when that thread
// exits — after its fiber_local values are destroyed.
// Timed waits: wait_for measures on steady_clock; wait_until(t) returns timeout only once t's own
// clock has reached t (system_clock and user clocks are re-checked), saturating at the extremes.
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
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

namespace fiber {

using std::future_errc;
using std::future_error;
using std::future_status;
using std::launch;

inline const std::error_category& future_category() noexcept {
  return std::future_category();
}

namespace detail {

[[noreturn]] void throw_future_error(future_errc e);

class future_state_base : public std::enable_shared_from_this<future_state_base> {
 public:
  future_state_base() = default;
  future_state_base(const future_state_base&) = delete;
  future_state_base& operator=(const future_state_base&) = delete;
  virtual ~future_state_base() = default;

  void wait();                                           // runs a deferred function first
  future_status wait_until(clock::time_point deadline);  // `deferred` for deferred states
  template <class Clock, class Duration>
  future_status wait_until(const std::chrono::time_point<Clock, Duration>& t) {
    future_status st = future_status::timeout;
    wait_until_clock(t, [&](clock::time_point deadline) {
      st = wait_until(deadline);
      return st != future_status::timeout;
    });
    return st;
  }
  bool is_ready() const noexcept { return ready_.load(std::memory_order_acquire); }
  void take_future();  // future_already_retrieved on 2nd call

  // Writes the result exactly once: `store` runs outside the guard (it may run user code; if it
  // throws, the state stays unsatisfied and the exception reaches the caller). With at_exit the
  // state becomes ready when the calling fiber or thread ends instead of now.
  template <class Store>
  void satisfy(Store&& store, bool at_exit = false) {
    claim();
    try {
      store();
    } catch (...) {
      unclaim();
      throw;
    }
    at_exit ? publish_at_exit() : publish();
  }
  void set_exception(std::exception_ptr e, bool at_exit = false) {
    if (!e) throw std::invalid_argument("weft: promise::set_exception: null exception_ptr");
    satisfy([&] { error_ = std::move(e); }, at_exit);
  }
  // Runs a task whose result becomes this state's (packaged_task, async): claims the state first
  // (promise_already_satisfied if it was), then stores what `call` returns or throws.
  template <class Call>
  void fulfil(Call&& call, bool at_exit = false) {
    claim();
    try {
      std::forward<Call>(call)();
    } catch (...) {
      error_ = std::current_exception();
    }
    at_exit ? publish_at_exit() : publish();
  }
  // Called by a promise/packaged_task destroyed without a result.
  void abandon() noexcept;
  // Makes the state ready and releases every waiter (the result was stored by satisfy/fulfil).
  void publish() noexcept;
  void rethrow_if_error() const {
    if (error_) std::rethrow_exception(error_);
  }

 protected:
  virtual void run_deferred() {}
  bool deferred_ = false;  // set once at construction by async(launch::deferred)

 private:
  void claim();
  void unclaim() noexcept;
  void publish_at_exit();

  notify_list list_;  // its guard protects satisfied_, retrieved_, deferred_taken_
  std::atomic<bool> ready_{false};
  bool satisfied_ = false;  // a writer claimed the result (set once)
  bool retrieved_ = false;  // get_future() was called
  bool deferred_taken_ = false;
  std::exception_ptr error_;
};

template <class R>
struct future_state : future_state_base {
  std::optional<R> value;
  // Stores what `call` returns as the value (the result is constructed exactly once, in place).
  template <class Call>
  void fulfil_with(Call&& call, bool at_exit = false) {
    fulfil([&] { value.emplace(std::forward<Call>(call)()); }, at_exit);
  }
};
template <class R>
struct future_state<R&> : future_state_base {
  R* value = nullptr;
  template <class Call>
  void fulfil_with(Call&& call, bool at_exit = false) {
    fulfil([&] { value = std::addressof(static_cast<R&>(std::forward<Call>(call)())); }, at_exit);
  }
};
template <>
struct future_state<void> : future_state_base {
  template <class Call>
  void fulfil_with(Call&& call, bool at_exit = false) {
    fulfil([&] { std::forward<Call>(call)(); }, at_exit);
  }
};

template <class R>
using state_ptr = std::shared_ptr<future_state<R>>;

// [futures.unique.future], [futures.shared.future], [futures.promise] (LWG 3458, 3466): the result
// type is void, a reference, or a destructible object type that is neither an array nor a function.
template <class R>
constexpr bool valid_result_type = std::is_void_v<R> || std::is_reference_v<R> ||
                                   (std::is_object_v<R> && !std::is_array_v<R> && std::is_destructible_v<R>);
#define WEFT_CHECK_RESULT_TYPE(R)                                                                         \
  static_assert(::fiber::detail::valid_result_type<R>,                                                    \
                "weft: the result type must be void, a reference, or a destructible object type that is " \
                "not an array (LWG 3458, 3466)")

template <class R>
void check_state(const state_ptr<R>& s) {
  if (!s) throw_future_error(future_errc::no_state);
}

// What shared_future<R>::get() returns (a trait, so that R = void never forms `const void&`).
template <class R>
struct shared_get {
  using type = const R&;
};
template <class R>
struct shared_get<R&> {
  using type = R&;
};
template <>
struct shared_get<void> {
  using type = void;
};

}  // namespace detail

template <class R>
class shared_future;

template <class R>
class future {
  WEFT_CHECK_RESULT_TYPE(R);

 public:
  future() noexcept = default;
  future(future&&) noexcept = default;
  future& operator=(future&&) noexcept = default;
  future(const future&) = delete;
  future& operator=(const future&) = delete;
  ~future() = default;

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
    return state_->wait_until(detail::deadline_after(d));
  }
  template <class Clock, class Duration>
  future_status wait_until(const std::chrono::time_point<Clock, Duration>& t) const {
    detail::check_state(state_);
    return state_->wait_until(t);
  }

  explicit future(detail::state_ptr<R> s) noexcept : state_(std::move(s)) {}  // weft-internal

 private:
  friend class shared_future<R>;
  detail::state_ptr<R> state_;
};

template <class R>
class shared_future {
  WEFT_CHECK_RESULT_TYPE(R);

 public:
  shared_future() noexcept = default;
  shared_future(const shared_future&) noexcept = default;
  shared_future(shared_future&&) noexcept = default;
  shared_future(future<R>&& f) noexcept : state_(std::move(f.state_)) {}  // NOLINT(google-explicit-constructor)
  shared_future& operator=(const shared_future&) noexcept = default;
  shared_future& operator=(shared_future&&) noexcept = default;
  ~shared_future() = default;

  typename detail::shared_get<R>::type get() const {
    detail::check_state(state_);
    state_->wait();
    state_->rethrow_if_error();
    if constexpr (std::is_void_v<R>) {
      return;
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
    return state_->wait_until(detail::deadline_after(d));
  }
  template <class Clock, class Duration>
  future_status wait_until(const std::chrono::time_point<Clock, Duration>& t) const {
    detail::check_state(state_);
    return state_->wait_until(t);
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
  template <class Alloc>
  promise_base(std::allocator_arg_t, const Alloc& a) : state_(std::allocate_shared<future_state<R>>(a)) {}
  promise_base(promise_base&&) noexcept = default;
  promise_base& operator=(promise_base&& o) noexcept {
    if (this != &o) {
      abandon();
      state_ = std::move(o.state_);
    }
    return *this;
  }
  promise_base(const promise_base&) = delete;
  promise_base& operator=(const promise_base&) = delete;
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
  void set_exception_at_thread_exit(std::exception_ptr e) {
    check_state(state_);
    state_->set_exception(std::move(e), /*at_exit=*/true);
  }
  void swap(promise_base& o) noexcept { state_.swap(o.state_); }

 protected:
  template <class Store>
  void set(Store&& store, bool at_exit) {
    check_state(state_);
    state_->satisfy(std::forward<Store>(store), at_exit);
  }
  void abandon() noexcept {
    if (state_) state_->abandon();
  }
  state_ptr<R> state_;
};

}  // namespace detail

template <class R>
class promise : public detail::promise_base<R> {
  WEFT_CHECK_RESULT_TYPE(R);

 public:
  promise() = default;
  template <class Alloc>
  promise(std::allocator_arg_t tag, const Alloc& a) : detail::promise_base<R>(tag, a) {}
  // Uses-allocator move construction (as libstdc++ offers: std::tuple<promise<R>> with an allocator).
  template <class Alloc>
  promise(std::allocator_arg_t, const Alloc&, promise&& o) noexcept : detail::promise_base<R>(std::move(o)) {}
  promise(promise&&) noexcept = default;
  promise& operator=(promise&&) noexcept = default;
  void set_value(const R& v) {
    this->set([&] { this->state_->value.emplace(v); }, false);
  }
  void set_value(R&& v) {
    this->set([&] { this->state_->value.emplace(std::move(v)); }, false);
  }
  void set_value_at_thread_exit(const R& v) {
    this->set([&] { this->state_->value.emplace(v); }, true);
  }
  void set_value_at_thread_exit(R&& v) {
    this->set([&] { this->state_->value.emplace(std::move(v)); }, true);
  }
  void swap(promise& o) noexcept { detail::promise_base<R>::swap(o); }
};

template <class R>
class promise<R&> : public detail::promise_base<R&> {
 public:
  promise() = default;
  template <class Alloc>
  promise(std::allocator_arg_t tag, const Alloc& a) : detail::promise_base<R&>(tag, a) {}
  template <class Alloc>
  promise(std::allocator_arg_t, const Alloc&, promise&& o) noexcept : detail::promise_base<R&>(std::move(o)) {}
  promise(promise&&) noexcept = default;
  promise& operator=(promise&&) noexcept = default;
  void set_value(R& v) {
    this->set([&] { this->state_->value = std::addressof(v); }, false);
  }
  void set_value_at_thread_exit(R& v) {
    this->set([&] { this->state_->value = std::addressof(v); }, true);
  }
  void swap(promise& o) noexcept { detail::promise_base<R&>::swap(o); }
};

template <>
class promise<void> : public detail::promise_base<void> {
 public:
  promise() = default;
  template <class Alloc>
  promise(std::allocator_arg_t tag, const Alloc& a) : detail::promise_base<void>(tag, a) {}
  template <class Alloc>
  promise(std::allocator_arg_t, const Alloc&, promise&& o) noexcept : detail::promise_base<void>(std::move(o)) {}
  promise(promise&&) noexcept = default;
  promise& operator=(promise&&) noexcept = default;
  void set_value() {
    this->set([] {}, false);
  }
  void set_value_at_thread_exit() {
    this->set([] {}, true);
  }
  void swap(promise& o) noexcept { detail::promise_base<void>::swap(o); }
};

template <class R>
void swap(promise<R>& a, promise<R>& b) noexcept {
  a.swap(b);
}

template <class Signature>
class packaged_task;

template <class R, class... Args>
class packaged_task<R(Args...)> {
  struct callable {
    virtual ~callable() = default;
    virtual R run(Args&&... args) = 0;
  };
  template <class F>
  struct callable_impl final : callable {
    // Never copied or moved itself: built once in place by make_unique.
    template <class G>
    explicit callable_impl(G&& g)  // NOLINT(bugprone-forwarding-reference-overload)
        : fn(std::forward<G>(g)) {}
    R run(Args&&... args) override {
      if constexpr (std::is_void_v<R>) {
        std::invoke(fn, std::forward<Args>(args)...);
      } else {
        return std::invoke(fn, std::forward<Args>(args)...);  // INVOKE<R>: converts to R
      }
    }
    F fn;
  };

 public:
  packaged_task() noexcept = default;
  // Constrained as std's is: never chosen over the move constructor.
  // NOLINTBEGIN(bugprone-forwarding-reference-overload)
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, packaged_task>) explicit packaged_task(F&& f)
      : fn_(std::make_unique<callable_impl<std::decay_t<F>>>(std::forward<F>(f))),
        state_(std::make_shared<detail::future_state<R>>()) {
    static_assert(std::is_invocable_r_v<R, std::decay_t<F>&, Args...>,
                  "packaged_task: the callable cannot be invoked with the signature's arguments");
  }
  // NOLINTEND(bugprone-forwarding-reference-overload)
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
  void operator()(Args... args) { run(false, std::forward<Args>(args)...); }
  // Runs the task now; its result (value or exception) becomes ready when the calling fiber ends
  // (or the calling OS thread exits).
  void make_ready_at_thread_exit(Args... args) { run(true, std::forward<Args>(args)...); }
  // A fresh shared state for the same function (the old one is abandoned: broken_promise).
  void reset() {
    detail::check_state(state_);
    abandon();
    state_ = std::make_shared<detail::future_state<R>>();
  }

 private:
  void run(bool at_exit, Args&&... args) {
    detail::check_state(state_);
    state_->fulfil_with([&]() -> R { return fn_->run(std::forward<Args>(args)...); }, at_exit);
  }
  void abandon() noexcept {
    if (state_) state_->abandon();
  }
  std::unique_ptr<callable> fn_;
  detail::state_ptr<R> state_;
};

namespace detail {
// The signature packaged_task(F) deduces from F::operator() (C++17 [futures.task.general]).
template <class>
struct call_signature;
template <class C, class R, class... A>
struct call_signature<R (C::*)(A...)> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct call_signature<R (C::*)(A...) const> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct call_signature<R (C::*)(A...) noexcept> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct call_signature<R (C::*)(A...) const noexcept> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct call_signature<R (C::*)(A...)&> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct call_signature<R (C::*)(A...) const&> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct call_signature<R (C::*)(A...)& noexcept> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct call_signature<R (C::*)(A...) const& noexcept> {
  using type = R(A...);
};
}  // namespace detail

template <class R, class... Args>
packaged_task(R (*)(Args...)) -> packaged_task<R(Args...)>;
template <class F, class Signature = typename detail::call_signature<decltype(&F::operator())>::type>
packaged_task(F) -> packaged_task<Signature>;

template <class R, class... Args>
void swap(packaged_task<R(Args...)>& a, packaged_task<R(Args...)>& b) noexcept {
  a.swap(b);
}

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

// The async fiber's entry: the decay-copied call (made once, in place) and where its result goes.
template <class R, class Call>
struct async_entry {
  template <class... A>
  explicit async_entry(future_state<R>* s, A&&... a) : state(s), call(std::forward<A>(a)...) {}
  void operator()() { state->fulfil_with(call); }
  future_state<R>* state;
  Call call;
};

template <class R, class Call>
struct deferred_state final : future_state<R> {
  template <class... A>
  explicit deferred_state(std::in_place_t, A&&... a) : call(std::forward<A>(a)...) {
    this->deferred_ = true;
  }
  void run_deferred() override { this->fulfil_with(call); }
  Call call;
};

}  // namespace detail

template <class F, class... Args>
[[nodiscard]] auto async(launch policy, F&& f, Args&&... args) {
  using Call = detail::bound_call_for<F, Args...>;
  using R = typename Call::result_type;
  const bool may_defer = (policy & launch::deferred) == launch::deferred;
  if ((policy & launch::async) == launch::async || !may_defer) {
    auto s = std::make_shared<detail::async_state<R>>();
    try {
      s->fiber = detail::spawn_in_place<detail::async_entry<R, Call>>(
          nullptr, spawn_options{}, detail::on_uncaught::report_to_joiner,
          static_cast<detail::future_state<R>*>(s.get()), std::forward<F>(f), std::forward<Args>(args)...);
      return future<R>(std::move(s));
    } catch (const std::system_error& e) {
      // [futures.async]: with launch::async | launch::deferred, a task that cannot be started
      // (no stack: ENOMEM; resource_unavailable_try_again) runs deferred instead, as libstdc++ does.
      if (!may_defer ||
          (e.code() != std::errc::resource_unavailable_try_again && e.code() != std::errc::not_enough_memory))
        throw;
    }
  }
  return future<R>(std::make_shared<detail::deferred_state<R, Call>>(std::in_place, std::forward<F>(f),
                                                                     std::forward<Args>(args)...));
}

template <class F, class... Args>
requires(!std::is_same_v<std::remove_cvref_t<F>, launch>) [[nodiscard]] auto async(F&& f, Args&&... args) {
  return fiber::async(launch::async | launch::deferred, std::forward<F>(f), std::forward<Args>(args)...);
}

}  // namespace fiber

template <class R, class Alloc>
struct std::uses_allocator<fiber::promise<R>, Alloc> : std::true_type {};
