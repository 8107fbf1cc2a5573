// spawn.hpp — start fibers and collect their results.
//
//   auto h = fiber::spawn([](int x) { return x * 2; }, 21);
//   int v = h.join();                                    // 42; rethrows if the fiber threw
//   fiber::spawn({.name = "conn-7", .stack_size = 64 * 1024}, serve, std::move(sock));  // detached
//   auto w = fiber::spawn([](std::stop_token st) { while (!st.stop_requested()) work(); });
//   w.request_stop(); w.join();
//
// Semantics:
//   - f and args are decay-copied exactly as std::thread copies them (one move or copy each, in the
//     caller; std::ref / std::cref arguments stay reference_wrappers, so a function taking T& gets
//     the referenced object) and invoked once, with rvalues, on a new fiber. If f is invocable with
//     a std::stop_token first, it receives the fiber's own token.
//   - join() parks the calling fiber, or blocks the calling OS thread, until f returns; it returns
//     f's result or rethrows its exception. Dropping a joinable handle detaches the fiber.
//   - A detached fiber whose f throws ends the process (std::terminate) after printing the
//     exception's what() and the fiber's name and id to stderr — as an exception escaping a thread.
// Errors: join() on an empty handle (already joined, detached, default-constructed) throws
// std::system_error(std::errc::invalid_argument); a fiber joining itself throws
// std::system_error(std::errc::resource_deadlock_would_occur). Spawning throws std::system_error
// (ENOMEM) when no stack can be reserved.
#pragma once

#include <fiber/detail/fiber_control.hpp>
#include <fiber/fiber_id.hpp>
#include <fiber/runtime.hpp>

#include <cstddef>
#include <new>
#include <stop_token>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace fiber {

struct spawn_options {
  std::string name = {};       // shown in diagnostics (stack overflow, uncaught exceptions)
  std::size_t stack_size = 0;  // bytes; 0: the runtime's default (runtime_options::stack_size)
};

template <class R>
class join_handle {
  static_assert(!std::is_reference_v<R>, "weft: a fiber cannot return a reference; return a value or a pointer");

 public:
  join_handle() noexcept = default;
  explicit join_handle(detail::fiber_result<R>* f) noexcept : f_(f) {}
  join_handle(join_handle&& o) noexcept : f_(std::exchange(o.f_, nullptr)) {}
  join_handle& operator=(join_handle&& o) noexcept {
    if (this != &o) {
      if (f_) detail::detach(f_);
      f_ = std::exchange(o.f_, nullptr);
    }
    return *this;
  }
  ~join_handle() {
    if (f_) detail::detach(f_);
  }

  bool joinable() const noexcept { return f_ != nullptr; }
  fiber_id get_id() const noexcept { return f_ ? fiber_id(f_->id) : fiber_id(); }

  R join() {
    if (!f_)
      throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                              "weft: join_handle::join: no fiber to join (already joined, detached or empty)");
    detail::wait_finished(f_);
    auto* f = std::exchange(f_, nullptr);
    struct releaser {
      detail::fiber_control* f;
      ~releaser() { detail::release(f); }
    } release_on_exit{f};
    // Take the exception out: the control block may be destroyed by the worker's thread.
    if (std::exception_ptr e = std::exchange(f->error, nullptr)) std::rethrow_exception(std::move(e));
    return f->take();
  }

  void detach() {
    if (!f_)
      throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                              "weft: join_handle::detach: no fiber (already joined, detached or empty)");
    detail::detach(std::exchange(f_, nullptr));
  }

  // Asks the fiber to stop: its std::stop_token reports it, and weft's blocking calls that honour
  // stop requests return std::errc::operation_canceled. False if no fiber or already requested.
  bool request_stop() noexcept { return f_ && f_->stop_source().request_stop(); }
  std::stop_source get_stop_source() noexcept { return f_ ? f_->stop_source() : std::stop_source(std::nostopstate); }

  // True once the fiber has finished (join() will not wait).
  bool is_finished() const noexcept { return f_ && detail::is_finished(f_); }

 private:
  detail::fiber_result<R>* f_ = nullptr;
};

namespace detail {

// Constructs Entry(a...) in place at the top of a new fiber's stack and starts it. The only copy
// of the user's callable and arguments is the one Entry's constructor makes.
template <class Entry, class... A>
auto spawn_in_place(runtime_core* rt, spawn_options&& opts, on_uncaught policy, A&&... a) {
  using R = std::invoke_result_t<Entry&>;
  using task = fiber_task<Entry, R>;
  const fiber_block block = reserve_fiber_block(rt, opts.stack_size, sizeof(task), alignof(task));
  task* t;
  try {
    t = ::new (block.mem) task(std::in_place, std::forward<A>(a)...);
  } catch (...) {
    discard_fiber_block(block);
    throw;
  }
  launch(t, block, std::move(opts.name), policy);
  return join_handle<R>(t);
}

template <class F, class... Args>
auto spawn_call(runtime_core* rt, spawn_options&& opts, on_uncaught policy, F&& f, Args&&... args) {
  return spawn_in_place<stoppable_call_for<F, Args...>>(rt, std::move(opts), policy, std::forward<F>(f),
                                                        std::forward<Args>(args)...);
}

}  // namespace detail

template <class F, class... Args>
auto spawn(spawn_options options, F&& f, Args&&... args) {
  return detail::spawn_call(nullptr, std::move(options), detail::on_uncaught::report_to_joiner, std::forward<F>(f),
                            std::forward<Args>(args)...);
}

template <class F, class... Args>
requires(!std::is_same_v<std::remove_cvref_t<F>, spawn_options>) auto spawn(F&& f, Args&&... args) {
  return spawn(spawn_options{}, std::forward<F>(f), std::forward<Args>(args)...);
}

// Runs f(args...) as a fiber on the default runtime (starting it if needed) and returns its
// result (or rethrows), parking the caller if it is a fiber, blocking it if it is an OS thread.
template <class F, class... Args>
auto run(F&& f, Args&&... args) {
  return spawn(std::forward<F>(f), std::forward<Args>(args)...).join();
}

template <class F, class... Args>
auto runtime::spawn(F&& f, Args&&... args) {
  return detail::spawn_call(core_.get(), spawn_options{}, detail::on_uncaught::report_to_joiner, std::forward<F>(f),
                            std::forward<Args>(args)...);
}

template <class F, class... Args>
auto runtime::run(F&& f, Args&&... args) {
  return spawn(std::forward<F>(f), std::forward<Args>(args)...).join();
}

}  // namespace fiber
