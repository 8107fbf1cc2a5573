// fork_support.cpp — pthread_atfork handlers and the fork epoch (fiber/detail/fork_support.hpp).
#include <fiber/detail/fork_support.hpp>

#include <pthread.h>

#include <atomic>
#include <mutex>

namespace fiber::detail {

namespace {

std::atomic<std::uint32_t> epoch{0};

constexpr int max_handlers = 16;
std::mutex handlers_mu;  // guards the table while handlers are registered
fork_handler handlers[max_handlers];
std::atomic<int> handler_count{0};

constexpr int layers = 3;

void on_prepare() {
  const int n = handler_count.load(std::memory_order_acquire);
  for (int layer = layers; layer-- > 0;)
    for (int i = n; i-- > 0;)
      if (handlers[i].layer == layer && handlers[i].prepare) handlers[i].prepare();
}

void on_parent() {
  const int n = handler_count.load(std::memory_order_acquire);
  for (int layer = 0; layer < layers; ++layer)
    for (int i = 0; i < n; ++i)
      if (handlers[i].layer == layer && handlers[i].parent) handlers[i].parent();
}

void on_child() {
  epoch.fetch_add(1, std::memory_order_acq_rel);
  const int n = handler_count.load(std::memory_order_acquire);
  for (int layer = 0; layer < layers; ++layer)
    for (int i = 0; i < n; ++i)
      if (handlers[i].layer == layer && handlers[i].child) handlers[i].child();
}

}  // namespace

std::uint32_t fork_epoch() noexcept {
  return epoch.load(std::memory_order_acquire);
}

void register_fork_handler(const fork_handler& h) noexcept {
  std::lock_guard lk(handlers_mu);
  static const bool installed = ::pthread_atfork(on_prepare, on_parent, on_child) == 0;
  (void)installed;
  const int n = handler_count.load(std::memory_order_relaxed);
  for (int i = 0; i < n; ++i)
    if (handlers[i].prepare == h.prepare && handlers[i].parent == h.parent && handlers[i].child == h.child) return;
  if (n == max_handlers) return;
  handlers[n] = h;
  handler_count.store(n + 1, std::memory_order_release);
}

}  // namespace fiber::detail
