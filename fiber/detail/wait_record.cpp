// wait_record.cpp — filling and clearing the per-parker wait record (fiber/detail/wait_record.hpp).
#include <fiber/detail/wait_record.hpp>

#include <fiber/detail/fast_clock.hpp>
#include <fiber/detail/worker.hpp>

#include <time.h>

#include <thread>

namespace fiber::detail {

namespace {
std::int64_t monotonic_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

#if !defined(__x86_64__)
std::uint64_t slow_ticks() noexcept {
  return static_cast<std::uint64_t>(monotonic_ns());
}
#endif

double ns_per_tick() noexcept {
  static const double factor = [] {
#if defined(__x86_64__)
    const std::int64_t n0 = monotonic_ns();
    const std::uint64_t t0 = fast_ticks();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const std::int64_t n1 = monotonic_ns();
    const std::uint64_t t1 = fast_ticks();
    return t1 > t0 ? static_cast<double>(n1 - n0) / static_cast<double>(t1 - t0) : 1.0;
#else
    return 1.0;
#endif
  }();
  return factor;
}

std::int64_t wait_age_ns(std::uint64_t since) noexcept {
  if (since == 0) return -1;
  const std::uint64_t now = fast_ticks();
  return now > since ? ticks_to_ns(static_cast<std::int64_t>(now - since)) : 0;
}

const char* wait_kind_name(wait_kind k) noexcept {
  switch (k) {
    case wait_kind::none:
      return "none";
    case wait_kind::mutex:
      return "mutex";
    case wait_kind::shared_mutex_writer:
      return "shared_mutex_write";
    case wait_kind::shared_mutex_reader:
      return "shared_mutex_read";
    case wait_kind::condition_variable:
      return "condition_variable";
    case wait_kind::semaphore:
      return "semaphore";
    case wait_kind::latch:
      return "latch";
    case wait_kind::barrier:
      return "barrier";
    case wait_kind::wait_group:
      return "wait_group";
    case wait_kind::future:
      return "future";
    case wait_kind::channel_send:
      return "channel_send";
    case wait_kind::channel_recv:
      return "channel_recv";
    case wait_kind::select:
      return "select";
    case wait_kind::join:
      return "join";
    case wait_kind::sleep:
      return "sleep";
    case wait_kind::socket_read:
      return "socket_read";
    case wait_kind::socket_write:
      return "socket_write";
    case wait_kind::socket_connect:
      return "socket_connect";
    case wait_kind::dns:
      return "dns";
    case wait_kind::blocking:
      return "blocking";
    case wait_kind::pthread_mutex:
      return "pthread_mutex";
    case wait_kind::pthread_cond:
      return "pthread_cond";
    case wait_kind::file_io:
      return "file_io";
    case wait_kind::other:
      return "other";
    case wait_kind::count_:
      break;
  }
  return "?";
}

void wait_scope::arm_record(wait_record& r, wait_kind k, const void* object, std::uint64_t detail, const void* extra,
                            clock::time_point deadline) noexcept {
  if (tried_) return;
  tried_ = true;
  if (r.kind.load(std::memory_order_relaxed) != wait_kind::none) return;  // an outer scope says more
  r.object.store(object, std::memory_order_relaxed);
  r.detail.store(detail, std::memory_order_relaxed);
  r.extra.store(extra, std::memory_order_relaxed);
  r.until_ns.store(deadline == no_deadline
                       ? 0
                       : std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count(),
                   std::memory_order_relaxed);
  r.since.store(fast_ticks(), std::memory_order_relaxed);
  r.kind.store(k, std::memory_order_release);
  rec_ = &r;
  if (k == wait_kind::socket_read || k == wait_kind::socket_write || k == wait_kind::socket_connect) {
    if (worker* w = worker::current(); w && w->running()) w->note_io_wait();
  }
}

void wait_scope::disarm() noexcept {
  rec_->via.store(nullptr, std::memory_order_relaxed);
  rec_->kind.store(wait_kind::none, std::memory_order_release);
  rec_ = nullptr;
}

void note_wait_via(const char* call) noexcept {
  worker* w = worker::current();
  if (!w || !w->running()) return;
  w->running()->wait.via.store(call, std::memory_order_relaxed);
}

}  // namespace fiber::detail
