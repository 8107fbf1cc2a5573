// spawn.hpp — start fibers and collect their results.
//
//   auto h = fiber::spawn([](int x) { return x * 2; }, 21);
//   int v = h.join();                                    // 42; rethrows if the fiber threw
//   fiber::spawn({.name = "conn-7", .stack_size = 64 * 1024}, serve, std::move(sock));  // detached
//   auto w = fiber::spawn([](std::stop_token st) { while (!st.stop_requested()) work(); });
//   w.request_stop(); w.join();
//
// Semantics:
//   - f and args are decay-copied (as std::thread does) and invoked with rvalues on a new fiber.
//     If f is invocable with a std::stop_token first, it receives the fiber's own token.
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
#include <functional>
#include <new>
#include <stop_token>
#include <string>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

namespace fiber {

struct spawn_options {
  std::string name;             // shown in diagnostics (stack overflow, uncaught exceptions)
  std::size_t stack_size = 0;   // bytes; 0: the runtime's default (128 KiB)
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
  bool is_finished() const noexcept {
    if (!f_) return false;
    f_->join_lock.lock();
    bool done = f_->finished;
    f_->join_lock.unlock();
    return done;
  }

 private:
  detail::fiber_result<R>* f_ = nullptr;
};

namespace detail {

// Decay-copies f and args into one callable; passes the fiber's stop token when f takes one.
template <class F, class... Args>
auto bind_entry(F&& f, Args&&... args) {
  using Fn = std::decay_t<F>;
  if constexpr (std::is_invocable_v<Fn, std::stop_token, std::decay_t<Args>...>) {
    return [fn = Fn(std::forward<F>(f)), tup = std::make_tuple(std::forward<Args>(args)...)]() mutable -> decltype(auto) {
      return std::apply(
          [&](auto&... a) -> decltype(auto) { return std::invoke(std::move(fn), current_stop_token(), std::move(a)...); },
          tup);
    };
  } else {
    static_assert(std::is_invocable_v<Fn, std::decay_t<Args>...>,
                  "weft: spawn: the callable cannot be invoked with these arguments");
    return [fn = Fn(std::forward<F>(f)), tup = std::make_tuple(std::forward<Args>(args)...)]() mutable -> decltype(auto) {
      return std::apply([&](auto&... a) -> decltype(auto) { return std::invoke(std::move(fn), std::move(a)...); }, tup);
    };
  }
}

template <class Entry>
auto spawn_entry(runtime_core* rt, spawn_options&& opts, Entry&& entry) {
  using Fn = std::decay_t<Entry>;
  using R = std::invoke_result_t<Fn&>;
  using task = fiber_task<Fn, R>;
  spawn_request req{std::move(opts.name), opts.stack_size, rt};
  stack_slot* slot = nullptr;
  runtime_core* target = nullptr;
  void* mem = allocate_fiber_block(req, sizeof(task), alignof(task), slot, target);
  task* t;
  try {
    t = ::new (mem) task(std::forward<Entry>(entry));
  } catch (...) {
    return_unused_slot(slot);
    throw;
  }
  launch(t, slot, target, req);
  return join_handle<R>(t);
}

}  // namespace detail

template <class F, class... Args>
auto spawn(spawn_options options, F&& f, Args&&... args) {
  return detail::spawn_entry(nullptr, std::move(options), detail::bind_entry(std::forward<F>(f), std::forward<Args>(args)...));
}

template <class F, class... Args>
  requires(!std::is_same_v<std::remove_cvref_t<F>, spawn_options>)
auto spawn(F&& f, Args&&... args) {
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
  return detail::spawn_entry(core_.get(), spawn_options{}, detail::bind_entry(std::forward<F>(f), std::forward<Args>(args)...));
}

template <class F, class... Args>
auto runtime::run(F&& f, Args&&... args) {
  return spawn(std::forward<F>(f), std::forward<Args>(args)...).join();
}

}  // namespace fiber
