// select.cpp — the per-thread random source select() uses to start its scan fairly.
#include <sync/select.hpp>

#include <chrono>

namespace fiber::detail {

std::uint32_t select_random() noexcept {
  // xorshift32: cheap, per OS thread (a fiber migrating never matters for fairness).
  thread_local std::uint32_t state = [] {
    auto seed = static_cast<std::uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    seed ^= static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(&seed));
    return seed ? seed : 0x9e3779b9u;
  }();
  std::uint32_t x = state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  state = x;
  return x;
}

}  // namespace fiber::detail
