// poll_descriptor.cpp — the wait/readiness handshake and lifetime rules described in
// net/detail/poll_descriptor.hpp, on top of fiber::detail::poller and park/unpark.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fiber/detail/fork_support.hpp>
#include <fiber/detail/wait_record.hpp>
#include <fiber/detail/worker.hpp>
#include <mutex>
#include <vector>
#include <net/detail/poll_descriptor.hpp>

namespace fiber::net::detail {

using fiber::detail::clock;

// Type-stable storage: descriptors are allocated in blocks and recycled through a free list, never
// deleted (see the header: stale reactor events may still name a recycled descriptor).
struct descriptor_pool {
  static constexpr int block = 64;
  fiber::detail::spinlock lock;
  poll_descriptor* free_head = nullptr;
  poll_descriptor* free_tail = nullptr;
  std::vector<poll_descriptor*> blocks;  // under lock; walked by the fork handler

  poll_descriptor* get() {
    {
      std::lock_guard g(lock);
      if (poll_descriptor* d = free_head) {
        free_head = d->next_free_;
        if (!free_head) free_tail = nullptr;
        d->next_free_ = nullptr;
        return d;
      }
    }
    auto* arr = new poll_descriptor[block];  // never freed: type-stable memory
    std::lock_guard g(lock);
    blocks.push_back(arr);
    for (int i = 1; i < block; ++i) put_locked(&arr[i]);
    return &arr[0];
  }
  // FIFO reuse keeps a recycled descriptor out of use for as long as possible.
  void put_locked(poll_descriptor* d) noexcept {
    d->next_free_ = nullptr;
    if (free_tail)
      free_tail->next_free_ = d;
    else
      free_head = d;
    free_tail = d;
  }
  void put(poll_descriptor* d) noexcept {
    std::lock_guard g(lock);
    put_locked(d);
  }
};

namespace {

descriptor_pool* the_pool = nullptr;

// fork (fiber/detail/fork_support.hpp): the pool's lock is held across fork(); in the child, the
// operations the parent's fibers had in flight will never end, so their counts are dropped — a
// close() in the child then really closes the descriptor.
void fork_prepare() noexcept {
  the_pool->lock.lock();
}
void fork_parent() noexcept {
  the_pool->lock.unlock();
}
void fork_child() noexcept {
  the_pool->lock.unlock();
  for (poll_descriptor* arr : the_pool->blocks)
    for (int i = 0; i < descriptor_pool::block; ++i) arr[i].forget_parent_operations();
}

descriptor_pool& pool() {
  static const bool made = [] {
    the_pool = new descriptor_pool;  // leaked on purpose: sockets may close during static destruction
    fiber::detail::register_fork_handler(
        {.layer = 1, .prepare = fork_prepare, .parent = fork_parent, .child = fork_child});
    return true;
  }();
  (void)made;
  return *the_pool;
}

}  // namespace

void poll_descriptor::forget_parent_operations() noexcept {
  auto v = state_.load(std::memory_order_relaxed);
  if (v < op_unit) return;
  state_.store(v & (op_unit - 1), std::memory_order_relaxed);
  finish_if_idle();  // a close() the parent's fibers were holding up completes now
}

poll_descriptor* poll_descriptor::create(int fd, bool owns_fd) {
  poll_descriptor* d = pool().get();
  d->reset(fd, owns_fd);
  return d;
}

void poll_descriptor::reset(int fd, bool owns_fd) noexcept {
  fd_ = fd;
  owns_fd_ = owns_fd;
  poller_.store(nullptr, std::memory_order_relaxed);
  registering_.store(0, std::memory_order_relaxed);
  reported_error_.store(0, std::memory_order_relaxed);
  short_read_drains_.store(-1, std::memory_order_relaxed);
  for (auto& s : slots_) {
    std::lock_guard g(s.lock);  // a stale reactor event may be touching the slot right now
    s.waiters = fiber::detail::wait_list();
    s.edges.store(0, std::memory_order_relaxed);
    s.consumed = 0;
    s.drain.store(0, std::memory_order_relaxed);
    s.hung_up.store(false, std::memory_order_relaxed);
  }
  state_.store(0, std::memory_order_release);
}

bool poll_descriptor::begin_op() noexcept {
  auto v = state_.load(std::memory_order_acquire);
  for (;;) {
    if (v & closed_bit) return false;
    if (state_.compare_exchange_weak(v, v + op_unit, std::memory_order_acq_rel, std::memory_order_acquire)) return true;
  }
}

void poll_descriptor::end_op() noexcept {
  auto v = state_.fetch_sub(op_unit, std::memory_order_acq_rel) - op_unit;
  if ((v & closed_bit) && v < op_unit) finish_if_idle();
}

void poll_descriptor::close() noexcept {
  auto old = state_.fetch_or(closed_bit, std::memory_order_acq_rel);
  if (!(old & closed_bit)) {
    wake(slots_[0], false);
    wake(slots_[1], false);
  }
  finish_if_idle();
}

void poll_descriptor::release() noexcept {
  close();
  state_.fetch_or(owner_gone_bit, std::memory_order_acq_rel);
  finish_if_idle();
}

// Runs the two once-only transitions of a closed, idle descriptor: close the fd (tearing -> fd_done),
// then, when the owner is gone too, recycle it. Each is claimed by exactly one CAS winner.
void poll_descriptor::finish_if_idle() noexcept {
  for (;;) {
    auto v = state_.load(std::memory_order_acquire);
    if (!(v & closed_bit) || v >= op_unit) return;
    if (!(v & tearing_bit)) {
      if (!state_.compare_exchange_weak(v, v | tearing_bit, std::memory_order_acq_rel)) continue;
      // Remove before close: the poller must never hold a registration for a closed (reusable) fd.
      if (auto* p = poller_.load(std::memory_order_acquire)) p->remove(fd_);
      if (owns_fd_ && fd_ >= 0) ::close(fd_);  // never retried on EINTR (Linux closed it anyway)
      state_.fetch_or(fd_done_bit, std::memory_order_acq_rel);
      continue;
    }
    if (!(v & fd_done_bit) || !(v & owner_gone_bit) || (v & recycled_bit)) return;
    if (!state_.compare_exchange_weak(v, v | recycled_bit, std::memory_order_acq_rel)) continue;
    pool().put(this);
    return;
  }
}

// Wakes every waiter of the slot (each retries its syscall); with `edge`, also counts a readiness
// event, which a waiter between its EAGAIN and its park sees in wait(). Tokens are unparked one at
// a time outside the lock; a waiter whose park already ended unlinks itself under the lock.
void poll_descriptor::wake(slot& s, bool edge) noexcept {
  s.lock.lock();
  if (edge) s.edges.store(s.edges.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  while (fiber::detail::waiter* w = s.waiters.pop_front()) {
    const fiber::detail::park_token t = w->token;  // w may vanish once the lock is released
    s.lock.unlock();
    fiber::detail::unpark(t);
    s.lock.lock();
  }
  s.lock.unlock();
}

void poll_descriptor::on_io_ready(std::uint32_t events, int error) noexcept {
  using namespace fiber::detail;
  if (error != 0) reported_error_.store(error, std::memory_order_release);
  // Errors and hang-ups wake both sides: the retried syscall reports what happened.
  if (events & (io_read_hangup | io_hangup | io_error)) slots_[0].hung_up.store(true, std::memory_order_release);
  if (events & (io_readable | io_read_hangup | io_hangup | io_error)) wake(slots_[0], true);
  if (events & (io_writable | io_hangup | io_error)) wake(slots_[1], true);
}

std::error_code poll_descriptor::ensure_registered() noexcept {
  const std::uint32_t epoch = fiber::detail::fork_epoch();
  for (;;) {
    int st = registering_.load(std::memory_order_acquire);
    // Registered in this process. (After a fork the registration is the parent's: register again.)
    if (st == 2 && registered_epoch_.load(std::memory_order_acquire) == epoch) return {};
    if (st == 1) {  // another fiber is registering it right now (a few instructions and one syscall)
      fiber::detail::cpu_relax();
      continue;
    }
    auto* w = fiber::detail::worker::current();
    if (!w) return std::make_error_code(std::errc::operation_not_supported);
    if (!registering_.compare_exchange_strong(st, 1, std::memory_order_acq_rel)) continue;
    if (auto ec = w->io().add(fd_, this)) {
      registering_.store(st, std::memory_order_release);
      return ec;
    }
    poller_.store(&w->io(), std::memory_order_release);
    registered_epoch_.store(epoch, std::memory_order_release);
    registering_.store(2, std::memory_order_release);
    return {};
  }
}

std::error_code poll_descriptor::wait(io_kind kind, clock::time_point deadline, const std::uint32_t* seen) noexcept {
  if (!fiber::detail::in_fiber() || !fiber::detail::worker::current()) return wait_on_thread(kind, deadline);
  if (auto ec = ensure_registered()) return ec;
  slot& s = slots_[static_cast<int>(kind)];
  fiber::detail::wait_scope ws;  // fiber::dump(): "socket read/write on fd N"
  for (;;) {
    s.lock.lock();
    if (is_closed()) {
      s.lock.unlock();
      return std::make_error_code(std::errc::bad_file_descriptor);
    }
    // An edge the failed syscall may not have seen: retry it instead of parking.
    const std::uint32_t now = s.edges.load(std::memory_order_relaxed);
    if (now != (seen ? *seen : s.consumed)) {
      if (!seen) s.consumed = now;  // only the callers without a count use (and consume) the sticky view
      s.lock.unlock();
      return {};
    }
    if (fiber::detail::own_stop_requested()) {
      s.lock.unlock();
      return std::make_error_code(std::errc::operation_canceled);
    }
    fiber::detail::waiter w;
    w.token = fiber::detail::prepare_park();
    s.waiters.push_back(&w);
    s.lock.unlock();
    ws.arm(kind == io_kind::read ? fiber::detail::wait_kind::socket_read : fiber::detail::wait_kind::socket_write, this,
           static_cast<std::uint64_t>(fd_), nullptr, deadline);
    const auto why = fiber::detail::park_until_own_stop(w.token, deadline);
    {
      std::lock_guard g(s.lock);
      s.waiters.remove(&w);  // still linked unless a wake popped it
    }
    if (why == fiber::detail::wake_reason::timeout) return std::make_error_code(std::errc::timed_out);
    if (why == fiber::detail::wake_reason::stopped) return std::make_error_code(std::errc::operation_canceled);
    // Notified by an event or a close: retry the syscall (several waiters may have been woken by
    // one edge, so none may go back to sleep on an edge another one consumed). A close is seen by
    // the caller's next begin/attempt, or by the check above on its next wait.
    if (is_closed()) return std::make_error_code(std::errc::bad_file_descriptor);
    return {};
  }
}

void poll_descriptor::note_read(bool eagain, bool short_read, std::uint32_t seen) noexcept {
  const bool empty = eagain || (short_read && short_read_drains());
  slots_[static_cast<int>(io_kind::read)].drain.store((static_cast<std::uint64_t>(seen) << 1) | (empty ? 1 : 0),
                                                      std::memory_order_release);
}

bool poll_descriptor::short_read_drains() noexcept {
  std::int8_t v = short_read_drains_.load(std::memory_order_relaxed);
  if (v < 0) {
    // A short read leaves nothing to read but maybe an end of stream, which the hint learns of only
    // from the hang-up mark of an event (on_io_ready). epoll and io_uring's poll mark it even when
    // data came with it; libkqueue (kqueue on Linux) delivers data and FIN as one plain readable
    // event, so under kqueue only EAGAIN counts (native kqueue sets EV_EOF, but is not tested here).
    fiber::detail::worker* w = fiber::detail::worker::current();
    const bool marks_hangups = w && w->io().backend() != fiber::io_backend::kqueue;
    ::sockaddr_storage ss{};
    ::socklen_t len = sizeof ss;
    const bool tcp = marks_hangups && ::getsockname(fd_, reinterpret_cast<::sockaddr*>(&ss), &len) == 0 &&
                     (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
    v = tcp ? 1 : 0;
    short_read_drains_.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

bool poll_descriptor::link_waiter(io_kind kind, fiber::detail::waiter& w) noexcept {
  slot& s = slots_[static_cast<int>(kind)];
  std::lock_guard g(s.lock);
  if (is_closed()) return false;  // close() sets the bit before it wakes under this lock
  s.waiters.push_back(&w);
  return true;
}

void poll_descriptor::unlink_waiter(io_kind kind, fiber::detail::waiter& w) noexcept {
  slot& s = slots_[static_cast<int>(kind)];
  std::lock_guard g(s.lock);
  s.waiters.remove(&w);  // still linked unless a wake popped it
}

std::error_code poll_descriptor::wait_on_thread(io_kind kind, clock::time_point deadline) noexcept {
  using namespace std::chrono;
  constexpr auto slice = milliseconds(50);
  for (;;) {
    if (is_closed()) return std::make_error_code(std::errc::bad_file_descriptor);
    auto now = clock::now();
    if (now >= deadline) return std::make_error_code(std::errc::timed_out);
    auto left = deadline == fiber::detail::no_deadline ? slice : ceil<milliseconds>(deadline - now);
    pollfd p{fd_, static_cast<short>(kind == io_kind::read ? POLLIN : POLLOUT), 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min(left, milliseconds(slice)).count()));
    if (r > 0) return {};
    if (r < 0 && errno != EINTR) return {errno, std::generic_category()};
  }
}

}  // namespace fiber::net::detail
