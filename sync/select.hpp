// select.hpp — fiber::select: wait on several channel operations, run the one that happens.
//
//   std::size_t fired = fiber::select(
//       fiber::on_recv(requests, [&](std::optional<request> r) { if (r) handle(*r); }),
//       fiber::on_send(replies, std::move(next), [&] { ++sent; }),
//       fiber::on_timeout(100ms, [&] { idle(); }));      // or fiber::on_default(f): never block
//   // `fired` is the position (0-based) of the case that ran.
//
// Semantics (Go's select): exactly one case happens, and only its callback runs (on the calling
// fiber/thread, after every lock is released). on_recv fires with a value, or with an empty
// optional when the channel is closed and drained. on_send moves the value in only if that case
// fires; a send case on a closed channel makes select throw fiber::channel_closed. on_default
// fires at once if no operation is ready; on_timeout fires if none happens by then (at most one
// of each). With neither, select waits for ever.
// Fairness: when several cases are ready, the one to run is chosen from a random starting point,
// so each ready case gets a fair share; waiting cases are queued FIFO on each channel like any
// other sender/receiver.
// How it works: all involved channel guards are taken in address order (no deadlock with other
// selects), the cases are tried; if none is ready one waiter node per case is queued, every node
// sharing the caller's single park token. A channel operation that finds such a node stores its
// value/status and unparks the token: exactly one unpark can win, so exactly one case happens;
// a loser takes its value back (see channel.hpp). After waking, the caller unlinks all nodes.
#pragma once

#include <sync/channel.hpp>

#include <functional>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace fiber {

namespace detail {

std::uint32_t select_random() noexcept;

// Each channel case exposes the same small interface to select():
//   guard()            the channel's spinlock
//   try_locked()       perform now if ready (guard held) -> true if it happened
//   enqueue_locked(t)  queue its node with token t (guard held)
//   dequeue_locked()   unlink the node if still queued (guard held)
//   happened()         the node was served while parked
//   fire()             run the callback (no lock held)
template <class T, class F>
class recv_case {
 public:
  recv_case(channel<T>& ch, F f) : ch_(&ch), f_(std::move(f)) {}
  static constexpr bool is_channel_case = true;
  static constexpr bool is_timeout = false;
  spinlock& guard() noexcept { return ch_->guard_; }
  bool try_locked() { return ch_->take_locked(slot_) != channel_status::full; }
  void enqueue_locked(park_token t) noexcept {
    node_.token = t;
    node_.slot = &slot_;
    node_.status = 0;
    ch_->recv_waiters_.push_back(&node_);
  }
  void dequeue_locked() noexcept { ch_->recv_waiters_.remove(&node_); }
  bool happened() const noexcept { return node_.status != 0; }
  void fire() { f_(std::move(slot_)); }

 private:
  channel<T>* ch_;
  F f_;
  std::optional<T> slot_;
  waiter node_;
};

template <class T, class F>
class send_case {
 public:
  send_case(channel<T>& ch, T value, F f) : ch_(&ch), value_(std::move(value)), f_(std::move(f)) {}
  static constexpr bool is_channel_case = true;
  static constexpr bool is_timeout = false;
  spinlock& guard() noexcept { return ch_->guard_; }
  bool try_locked() {
    const channel_status s = ch_->offer_locked(value_);
    if (s == channel_status::closed) closed_ = true;
    return s != channel_status::full;
  }
  void enqueue_locked(park_token t) noexcept {
    node_.token = t;
    node_.slot = &value_;
    node_.status = 0;
    ch_->send_waiters_.push_back(&node_);
  }
  void dequeue_locked() noexcept { ch_->send_waiters_.remove(&node_); }
  bool happened() const noexcept { return node_.status != 0; }
  void fire() {
    if (closed_ || node_.status == closed_wake) throw channel_closed();
    f_();
  }

 private:
  channel<T>* ch_;
  T value_;
  F f_;
  bool closed_ = false;
  waiter node_;
};

template <class F>
struct timeout_case {
  static constexpr bool is_channel_case = false;
  static constexpr bool is_timeout = true;
  clock::time_point deadline;
  F f;
  void fire() { f(); }
};

template <class F>
struct default_case {
  static constexpr bool is_channel_case = false;
  static constexpr bool is_timeout = false;
  F f;
  void fire() { f(); }
};

struct no_action {
  void operator()() const noexcept {}
  template <class T>
  void operator()(std::optional<T>&&) const noexcept {}
};

// Type-erased view of one channel case, so the algorithm below is an ordinary loop.
struct case_ops {
  void* self;
  spinlock* guard;
  bool (*try_locked)(void*);
  void (*enqueue_locked)(void*, park_token) noexcept;
  void (*dequeue_locked)(void*) noexcept;
  bool (*happened)(const void*) noexcept;
  std::size_t index;  // position in the select() argument list
};

template <class C>
case_ops make_ops(C& c, std::size_t index) {
  return case_ops{
      &c,
      &c.guard(),
      [](void* p) { return static_cast<C*>(p)->try_locked(); },
      [](void* p, park_token t) noexcept { static_cast<C*>(p)->enqueue_locked(t); },
      [](void* p) noexcept { static_cast<C*>(p)->dequeue_locked(); },
      [](const void* p) noexcept { return static_cast<const C*>(p)->happened(); },
      index,
  };
}

// Locks the distinct guards of `ops` in address order (a select may name one channel twice).
template <std::size_t K>
struct guard_set {
  std::array<spinlock*, K> locks{};
  std::size_t n = 0;
  explicit guard_set(const std::array<case_ops, K>& ops) {
    // Insertion sort without duplicates: K is a handful of cases.
    for (const auto& o : ops) {
      std::size_t pos = 0;
      while (pos < n && std::less<spinlock*>{}(locks[pos], o.guard)) ++pos;
      if (pos < n && locks[pos] == o.guard) continue;
      for (std::size_t j = n; j > pos; --j) locks[j] = locks[j - 1];
      locks[pos] = o.guard;
      ++n;
    }
  }
  void lock() noexcept {
    for (std::size_t i = 0; i < n; ++i) locks[i]->lock();
  }
  void unlock() noexcept {
    for (std::size_t i = n; i-- > 0;) locks[i]->unlock();
  }
};

template <class C>
constexpr bool is_channel_case_v = std::remove_cvref_t<C>::is_channel_case;

template <class... Cases>
constexpr std::size_t count_channel_cases() {
  return (std::size_t{0} + ... + (is_channel_case_v<Cases> ? 1 : 0));
}

template <bool Timeout, class... Cases>
constexpr std::size_t count_special() {
  std::size_t n = 0;
  ((n += (!is_channel_case_v<Cases> && std::remove_cvref_t<Cases>::is_timeout == Timeout) ? 1 : 0), ...);
  return n;
}

template <class Tuple, class Fn, std::size_t... I>
void for_each_indexed(Tuple& t, Fn&& fn, std::index_sequence<I...>) {
  (fn(std::get<I>(t), std::integral_constant<std::size_t, I>{}), ...);
}

}  // namespace detail

// ---- case builders
template <class T, class F = detail::no_action>
detail::recv_case<T, F> on_recv(channel<T>& ch, F f = {}) {
  static_assert(std::is_invocable_v<F&, std::optional<T>&&>, "on_recv: callback must take std::optional<T>");
  return detail::recv_case<T, F>(ch, std::move(f));
}
template <class T, class U, class F = detail::no_action>
detail::send_case<T, F> on_send(channel<T>& ch, U&& value, F f = {}) {
  static_assert(std::is_invocable_v<F&>, "on_send: callback must take no arguments");
  return detail::send_case<T, F>(ch, T(std::forward<U>(value)), std::move(f));
}
template <class Rep, class Period, class F = detail::no_action>
detail::timeout_case<F> on_timeout(const std::chrono::duration<Rep, Period>& d, F f = {}) {
  return detail::timeout_case<F>{detail::deadline_after(d), std::move(f)};
}
template <class F = detail::no_action>
detail::default_case<F> on_default(F f = {}) {
  return detail::default_case<F>{std::move(f)};
}

template <class... Cases>
std::size_t select(Cases&&... cases) {
  constexpr std::size_t K = detail::count_channel_cases<Cases...>();
  static_assert(detail::count_special<true, Cases...>() <= 1, "select: at most one on_timeout");
  static_assert(detail::count_special<false, Cases...>() <= 1, "select: at most one on_default");
  constexpr bool has_default = detail::count_special<false, Cases...>() == 1;
  auto all = std::forward_as_tuple(cases...);
  constexpr auto seq = std::index_sequence_for<Cases...>{};

  std::array<detail::case_ops, K> ops{};
  std::size_t k = 0;
  detail::clock::time_point deadline = detail::no_deadline;
  std::size_t timeout_index = 0, default_index = 0;
  detail::for_each_indexed(
      all,
      [&](auto& c, auto index) {
        using C = std::remove_cvref_t<decltype(c)>;
        if constexpr (C::is_channel_case) {
          ops[k++] = detail::make_ops(c, index);
        } else if constexpr (C::is_timeout) {
          deadline = c.deadline;
          timeout_index = index;
        } else {
          default_index = index;
        }
      },
      seq);

  // Runs the callback of the case at argument position `fired` and returns it.
  auto fire = [&](std::size_t fired) {
    detail::for_each_indexed(
        all,
        [&](auto& c, auto index) {
          if (index == fired) c.fire();
        },
        seq);
    return fired;
  };

  if constexpr (K == 0) {
    if constexpr (has_default) return fire(default_index);
    detail::wait_scope ws(detail::wait_kind::select, nullptr, 0, nullptr, deadline);
    if (deadline == detail::no_deadline) {
      for (;;) detail::park(detail::prepare_park());  // Go's empty select: blocks for ever
    }
    auto t = detail::prepare_park();
    while (detail::park_until(t, deadline) != detail::wake_reason::timeout) t = detail::prepare_park();
    return fire(timeout_index);
  } else {
    detail::guard_set<K> guards(ops);
    const std::size_t start = K > 1 ? detail::select_random() % K : 0;
    guards.lock();
    for (std::size_t i = 0; i < K; ++i) {
      auto& o = ops[(start + i) % K];
      if (o.try_locked(o.self)) {
        guards.unlock();
        return fire(o.index);
      }
    }
    if constexpr (has_default) {
      guards.unlock();
      return fire(default_index);
    } else {
      const detail::park_token token = detail::prepare_park();
      for (std::size_t i = 0; i < K; ++i) ops[(start + i) % K].enqueue_locked(ops[(start + i) % K].self, token);
      guards.unlock();
      {
        detail::wait_scope ws(detail::wait_kind::select, nullptr, K, nullptr, deadline);
        detail::park_until(token, deadline);
      }
      guards.lock();
      for (auto& o : ops) o.dequeue_locked(o.self);
      guards.unlock();
      for (auto& o : ops)
        if (o.happened(o.self)) return fire(o.index);
      return fire(timeout_index);  // nobody served us: the deadline passed
    }
  }
}

}  // namespace fiber
