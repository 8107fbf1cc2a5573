// poll_descriptor.cpp — the wait/readiness handshake and lifetime rules described in
// net/detail/poll_descriptor.hpp, on top of fiber::detail::poller and park/unpark.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fiber/detail/wait_record.hpp>
#include <fiber/detail/worker.hpp>
#include <mutex>
#include <net/detail/poll_descriptor.hpp>

namespace fiber::net::detail {

using fiber::detail::clock;

// Type-stable storage: descriptors are allocated in blocks and recycled through a free list, never
// deleted (see the header: stale reactor events may still name a recycled descriptor).
struct descriptor_pool {
  fiber::detail::spinlock lock;
  poll_descriptor* free_head = nullptr;
  poll_descriptor* free_tail = nullptr;

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
    constexpr int block = 64;
    auto* arr = new poll_descriptor[block];  // never freed: type-stable memory
    std::lock_guard g(lock);
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

static descriptor_pool& pool() {
  static auto* p = new descriptor_pool;  // leaked on purpose: sockets may close during static destruction
  return *p;
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
  for (auto& s : slots_) {
    std::lock_guard g(s.lock);  // a stale reactor event may be touching the slot right now
    s.waiter = {};
    s.ready = false;
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
    wake(slots_[0]);
    wake(slots_[1]);
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

void poll_descriptor::wake(slot& s) noexcept {
  fiber::detail::park_token t;
  {
    std::lock_guard g(s.lock);
    t = s.waiter;
    s.waiter = {};
  }
  if (t) fiber::detail::unpark(t);
}

void poll_descriptor::on_io_ready(std::uint32_t events, int error) noexcept {
  using namespace fiber::detail;
  if (error != 0) reported_error_.store(error, std::memory_order_release);
  auto signal = [](slot& s) {
    park_token t;
    {
      std::lock_guard g(s.lock);
      s.ready = true;
      t = s.waiter;
      s.waiter = {};
    }
    if (t) unpark(t);
  };
  // Errors and hang-ups wake both sides: the retried syscall reports what happened.
  if (events & (io_readable | io_read_hangup | io_hangup | io_error)) signal(slots_[0]);
  if (events & (io_writable | io_hangup | io_error)) signal(slots_[1]);
}

std::error_code poll_descriptor::ensure_registered() noexcept {
  if (poller_.load(std::memory_order_acquire)) return {};
  auto* w = fiber::detail::worker::current();
  if (!w) return std::make_error_code(std::errc::operation_not_supported);
  int expected = 0;
  if (registering_.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    auto ec = w->io().add(fd_, this);
    if (ec) {
      registering_.store(0, std::memory_order_release);
      return ec;
    }
    poller_.store(&w->io(), std::memory_order_release);
    registering_.store(2, std::memory_order_release);
    return {};
  }
  // Another fiber is registering it right now (a few instructions plus one epoll_ctl).
  while (registering_.load(std::memory_order_acquire) == 1) fiber::detail::cpu_relax();
  if (poller_.load(std::memory_order_acquire)) return {};
  return ensure_registered();
}

std::error_code poll_descriptor::wait(io_kind kind, clock::time_point deadline) noexcept {
  if (!fiber::detail::in_fiber() || !fiber::detail::worker::current()) return wait_on_thread(kind, deadline);
  if (auto ec = ensure_registered()) return ec;
  auto stop = fiber::detail::current_stop_token();
  slot& s = slots_[static_cast<int>(kind)];
  fiber::detail::wait_scope ws;  // fiber::dump(): "socket read/write on fd N"
  for (;;) {
    s.lock.lock();
    if (is_closed()) {
      s.lock.unlock();
      return std::make_error_code(std::errc::bad_file_descriptor);
    }
    if (s.ready) {
      s.ready = false;
      s.lock.unlock();
      return {};
    }
    if (stop.stop_requested()) {
      s.lock.unlock();
      return std::make_error_code(std::errc::operation_canceled);
    }
    auto token = fiber::detail::prepare_park();
    s.waiter = token;
    s.lock.unlock();
    ws.arm(kind == io_kind::read ? fiber::detail::wait_kind::socket_read : fiber::detail::wait_kind::socket_write, this,
           static_cast<std::uint64_t>(fd_), nullptr, deadline);
    auto why = fiber::detail::park_until(token, deadline, stop);
    {
      std::lock_guard g(s.lock);
      if (s.waiter.who == token.who && s.waiter.seq == token.seq) s.waiter = {};
    }
    if (why == fiber::detail::wake_reason::timeout) return std::make_error_code(std::errc::timed_out);
    if (why == fiber::detail::wake_reason::stopped) return std::make_error_code(std::errc::operation_canceled);
    // notified: ready or closed (checked above), or a harmless spurious wake-up.
  }
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
