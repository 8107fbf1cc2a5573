// A program for tests/gdb/check.sh: parks three named fibers in distinct functions, then traps
// into the debugger.
#include <fiber/fiber.hpp>
#include <fiber/detail/park.hpp>
#include <sync/sync.hpp>

#include <csignal>
#include <thread>
#include <vector>

namespace {
std::vector<fiber::detail::park_token> tokens;
std::mutex mu;
fiber::mutex held;  // 'holder' keeps it while parked; 'locker' waits for it (a wait record gdb shows)

__attribute__((noinline)) void wait_in_distinct_function() {
  auto t = fiber::detail::prepare_park();
  {
    std::lock_guard lk(mu);
    tokens.push_back(t);
  }
  fiber::detail::park(t);
}
}  // namespace

int main() {
  fiber::runtime rt({.workers = 1});
  std::vector<fiber::join_handle<void>> hs;
  for (const char* name : {"alpha", "beta", "gamma"})
    hs.push_back(fiber::spawn({.name = name}, wait_in_distinct_function));
  hs.push_back(fiber::spawn({.name = "holder"}, [] {
    std::lock_guard g(held);
    wait_in_distinct_function();
  }));
  for (;;) {
    std::lock_guard lk(mu);
    if (tokens.size() == 4) break;
  }
  hs.push_back(fiber::spawn({.name = "locker"}, [] { std::lock_guard g(held); }));
  // An OS thread waiting on a weft object: `weft threads` shows it joining 'waited'.
  static fiber::latch release(1);
  auto waited = fiber::spawn({.name = "waited"}, [] { release.wait(); });
  std::thread joiner([&] { waited.join(); });
  while (fiber::default_runtime().stats().parked < 6) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the joiner is parked by now
  std::raise(SIGTRAP);                                         // gdb stops here and runs the commands
  release.count_down();
  joiner.join();
  for (auto& t : tokens) fiber::detail::unpark(t);
  for (auto& h : hs) h.join();
  return 0;
}
