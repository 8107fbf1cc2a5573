// channel.hpp — fiber::channel<T>: Go-style channels between fibers and OS threads.
//
//   fiber::channel<int> ch(16);                  // capacity 16; channel<int> ch; is a rendezvous
//   fiber::spawn([&] { for (int i = 0; i < 100; ++i) ch.send(i); ch.close(); });
//   for (int& v : ch) use(v);                     // until closed and drained
//   std::optional<int> v = ch.recv_for(50ms);     // empty on timeout or once closed and drained
//
// Sharing: a channel is neither copyable nor movable (waiters point into it). Pass a
// `channel<T>&` to fibers that the owner outlives (e.g. joined before the channel dies), or hold
// it in a std::shared_ptr<channel<T>> and copy the pointer into each fiber.
//
// Semantics:
//   send(v)  blocks (parks a fiber / blocks an OS thread) while the buffer is full — for capacity
//            0 until a receiver takes the value; throws fiber::channel_closed (a std::system_error
//            with channel_errc::closed) if the channel is or becomes closed before delivery.
//            send(v, ec) reports the same through a std::error_code instead.
//   try_send / send_for / send_until never throw on close: they return false / channel_status,
//            and move from an rvalue argument only when it was delivered (retry with the same v).
//   recv()   -> std::optional<T>: a value, or empty once the channel is closed and drained.
//            try_recv / recv_for / recv_until are empty also when nothing arrived in time
//            (is_closed() tells the two apart).
//   close()  idempotent; wakes every blocked sender (they fail) and receiver (they get what is
//            left in the buffer first, then empty).
// Fairness: blocked senders and receivers are each served FIFO; a value is handed straight to
// the oldest parked receiver (copied into its result slot, then it is unparked — no double
// buffering), and a receiver that empties a slot of a full buffer refills it from the oldest
// parked sender. A waker whose unpark fails (the waiter timed out, or its select fired elsewhere)
// takes the value back under the lock and tries the next waiter: nothing is lost or duplicated.
// Move-only T works. All state sits under one spinlock, never held across a park.
// Misuse: destroying a channel while fibers/threads are blocked on it aborts in debug builds.
#pragma once

#include <fiber/detail/spinlock.hpp>
#include <fiber/detail/park.hpp>
#include <fiber/detail/wait_record.hpp>
#include <sync/detail/wait_list.hpp>

#include <chrono>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace fiber {

enum class channel_errc { closed = 1 };
const std::error_category& channel_category() noexcept;
inline std::error_code make_error_code(channel_errc e) noexcept {
  return {static_cast<int>(e), channel_category()};
}

}  // namespace fiber

template <>
struct std::is_error_code_enum<fiber::channel_errc> : std::true_type {};

namespace fiber {

// Thrown by channel::send (and by select's send case) on a closed channel.
class channel_closed : public std::system_error {
 public:
  channel_closed() : std::system_error(make_error_code(channel_errc::closed), "weft: send on a closed channel") {}
};

enum class channel_status {
  ok,       // delivered / received
  timeout,  // the deadline passed first
  closed,   // the channel is closed (for receives: closed and drained)
  full,     // try_send only: no room and no receiver waiting (internal for blocking forms)
};

namespace detail {
template <class T, class F>
class recv_case;
template <class T, class F>
class send_case;
[[noreturn]] void channel_destroyed_with_waiters() noexcept;
inline constexpr std::uint8_t delivered = 1;    // waiter::status: the transfer happened
inline constexpr std::uint8_t closed_wake = 2;  // waiter::status: woken by close()
}  // namespace detail

template <class T>
class channel {
  static_assert(std::is_move_constructible_v<T>, "fiber::channel<T>: T must be move-constructible");
  static_assert(!std::is_reference_v<T>, "fiber::channel<T>: T cannot be a reference");

 public:
  using value_type = T;

  explicit channel(std::size_t capacity = 0) : cap_(capacity) {
    if (cap_ != 0) buf_ = std::allocator<T>().allocate(cap_);
  }
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;
  ~channel() {
#ifndef NDEBUG
    guard_.lock();
    const bool blocked = !recv_waiters_.empty() || !send_waiters_.empty();
    guard_.unlock();
    if (blocked) detail::channel_destroyed_with_waiters();
#endif
    while (count_ != 0) (void)pop_front();
    if (buf_) std::allocator<T>().deallocate(buf_, cap_);
  }

  // ---- send
  void send(T value) {
    if (send_steady(value, detail::no_deadline) == channel_status::closed) throw channel_closed();
  }
  void send(T value, std::error_code& ec) {
    ec = send_steady(value, detail::no_deadline) == channel_status::closed ? make_error_code(channel_errc::closed)
                                                                           : std::error_code();
  }
  bool try_send(const T& value) {
    T copy(value);
    return try_send(std::move(copy));
  }
  bool try_send(T&& value) {
    guard_.lock();
    const bool ok = offer_locked(value) == channel_status::ok;
    guard_.unlock();
    return ok;
  }
  template <class Rep, class Period>
  channel_status send_for(T&& value, const std::chrono::duration<Rep, Period>& d) {
    return send_steady(value, detail::deadline_after(d));
  }
  template <class Rep, class Period>
  channel_status send_for(const T& value, const std::chrono::duration<Rep, Period>& d) {
    T copy(value);
    return send_steady(copy, detail::deadline_after(d));
  }
  template <class Clock, class Duration>
  channel_status send_until(T&& value, const std::chrono::time_point<Clock, Duration>& t) {
    channel_status st = channel_status::timeout;
    detail::wait_until_clock(t, [&](detail::clock::time_point dl) {
      st = send_steady(value, dl);
      return st != channel_status::timeout;
    });
    return st;
  }
  template <class Clock, class Duration>
  channel_status send_until(const T& value, const std::chrono::time_point<Clock, Duration>& t) {
    T copy(value);
    return send_until(std::move(copy), t);
  }

  // ---- receive
  std::optional<T> recv() {
    return recv_steady(detail::no_deadline);
  }
  std::optional<T> try_recv() {
    std::optional<T> out;
    guard_.lock();
    (void)take_locked(out);
    guard_.unlock();
    return out;
  }
  template <class Rep, class Period>
  std::optional<T> recv_for(const std::chrono::duration<Rep, Period>& d) {
    return recv_steady(detail::deadline_after(d));
  }
  template <class Clock, class Duration>
  std::optional<T> recv_until(const std::chrono::time_point<Clock, Duration>& t) {
    std::optional<T> out;
    detail::wait_until_clock(t, [&](detail::clock::time_point dl) {
      out = recv_steady(dl);
      return out.has_value() || is_closed();
    });
    return out;
  }

  // ---- state
  void close() noexcept {
    guard_.lock();
    if (!closed_) {
      closed_ = true;
      wake_all_closed(recv_waiters_);
      wake_all_closed(send_waiters_);
    }
    guard_.unlock();
  }
  bool is_closed() const noexcept {
    guard_.lock();
    const bool c = closed_;
    guard_.unlock();
    return c;
  }
  std::size_t size() const noexcept {
    guard_.lock();
    const std::size_t n = count_;
    guard_.unlock();
    return n;
  }
  std::size_t capacity() const noexcept {
    return cap_;
  }

  // ---- range-for: receives until the channel is closed and drained
  class iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    T& operator*() const { return *cur_; }
    T* operator->() const { return &**this; }
    iterator& operator++() {
      cur_ = ch_->recv();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return !it.cur_; }

   private:
    friend class channel;
    iterator(channel* ch, std::optional<T> first) : ch_(ch), cur_(std::move(first)) {}
    channel* ch_ = nullptr;
    mutable std::optional<T> cur_;  // the value the loop body sees
  };
  iterator begin() {
    return iterator(this, recv());
  }
  std::default_sentinel_t end() noexcept {
    return {};
  }

 private:
  template <class U, class F>
  friend class detail::recv_case;
  template <class U, class F>
  friend class detail::send_case;

  // Replaces a moved-from object with `from` (also for types without move assignment).
  static void restore(T& into, T&& from) {
    std::destroy_at(&into);
    std::construct_at(&into, std::move(from));
  }
  void push_back(T&& v) {
    std::size_t tail = head_ + count_;
    if (tail >= cap_) tail -= cap_;
    std::construct_at(buf_ + tail, std::move(v));
    ++count_;
  }
  T pop_front() {
    T v(std::move(buf_[head_]));
    std::destroy_at(buf_ + head_);
    if (++head_ == cap_) head_ = 0;
    --count_;
    return v;
  }
  T pop_back() {
    --count_;
    std::size_t tail = head_ + count_;
    if (tail >= cap_) tail -= cap_;
    T v(std::move(buf_[tail]));
    std::destroy_at(buf_ + tail);
    return v;
  }

  // Delivers `v` now if possible: to the oldest parked receiver, else into the buffer.
  // Moves from v only when it returns ok. Guard held.
  channel_status offer_locked(T& v) {
    if (closed_) return channel_status::closed;
    while (detail::waiter* r = recv_waiters_.pop_front()) {
      auto* slot = static_cast<std::optional<T>*>(r->slot);
      slot->emplace(std::move(v));
      r->status = detail::delivered;
      if (detail::unpark(r->token)) return channel_status::ok;
      r->status = 0;  // it timed out or its select fired elsewhere: take the value back
      restore(v, std::move(**slot));
      slot->reset();
    }
    if (count_ < cap_) {
      push_back(std::move(v));
      return channel_status::ok;
    }
    return channel_status::full;
  }

  // Takes a value now if possible: from the buffer (refilling it from the oldest parked sender),
  // else straight from a parked sender. `closed` once closed and drained; `full` = nothing yet.
  channel_status take_locked(std::optional<T>& out) {
    if (count_ != 0) {
      out.emplace(pop_front());
      while (detail::waiter* s = send_waiters_.pop_front()) {
        T* src = static_cast<T*>(s->slot);
        push_back(std::move(*src));
        s->status = detail::delivered;
        if (detail::unpark(s->token)) break;
        s->status = 0;
        restore(*src, pop_back());
      }
      return channel_status::ok;
    }
    while (detail::waiter* s = send_waiters_.pop_front()) {
      T* src = static_cast<T*>(s->slot);
      out.emplace(std::move(*src));
      s->status = detail::delivered;
      if (detail::unpark(s->token)) return channel_status::ok;
      s->status = 0;
      restore(*src, std::move(*out));
      out.reset();
    }
    return closed_ ? channel_status::closed : channel_status::full;
  }

  void wake_all_closed(detail::wait_list& list) noexcept {
    while (detail::waiter* w = list.pop_front()) {
      w->status = detail::closed_wake;
      if (!detail::unpark(w->token)) w->status = 0;
    }
  }

  channel_status send_steady(T& v, detail::clock::time_point deadline) {
    guard_.lock();
    const channel_status s = offer_locked(v);
    if (s != channel_status::full) {
      guard_.unlock();
      return s;
    }
    detail::waiter w;
    w.slot = &v;
    w.token = detail::prepare_park();
    send_waiters_.push_back(&w);
    guard_.unlock();
    detail::wait_scope ws(detail::wait_kind::channel_send, this, cap_, reinterpret_cast<const void*>(&length_of),
                          deadline);
    if (detail::park_until(w.token, deadline) == detail::wake_reason::notified)
      return w.status == detail::delivered ? channel_status::ok : channel_status::closed;
    guard_.lock();
    send_waiters_.remove(&w);  // still queued, or popped by a waker that then gave v back
    guard_.unlock();
    return channel_status::timeout;
  }

  std::optional<T> recv_steady(detail::clock::time_point deadline) {
    std::optional<T> out;
    guard_.lock();
    if (take_locked(out) != channel_status::full) {
      guard_.unlock();
      return out;
    }
    detail::waiter w;
    w.slot = &out;
    w.token = detail::prepare_park();
    recv_waiters_.push_back(&w);
    guard_.unlock();
    detail::wait_scope ws(detail::wait_kind::channel_recv, this, cap_, reinterpret_cast<const void*>(&length_of),
                          deadline);
    if (detail::park_until(w.token, deadline) != detail::wake_reason::notified) {
      guard_.lock();
      recv_waiters_.remove(&w);
      guard_.unlock();
    }
    return out;  // filled by the sender (delivered), or empty (closed / timeout)
  }

  // For fiber::dump(): the buffered length of the channel a waiter's record names.
  static std::size_t length_of(const void* ch) noexcept {
    return static_cast<const channel*>(ch)->size();
  }

  mutable detail::spinlock guard_;  // protects everything below
  T* buf_ = nullptr;                // ring of cap_ slots, count_ live from head_
  std::size_t cap_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  bool closed_ = false;
  detail::wait_list recv_waiters_;  // slot: std::optional<T>* to fill
  detail::wait_list send_waiters_;  // slot: T* to move from
};

}  // namespace fiber
