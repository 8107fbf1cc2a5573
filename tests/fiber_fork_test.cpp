// fork() with a running runtime (fiber/detail/fork_support.hpp): the child's first weft call finds a
// working runtime — workers, pollers, timers and socket registrations rebuilt, nothing shared with
// the parent — only the caller of fork() goes on in the child, and fork + exec from a fiber works.
// Runs on whichever backend WEFT_IO_BACKEND selects (CI runs the fiber suite on each).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fiber/detail/sanitizers.hpp>
#include <fiber/fiber.hpp>
#include <net/net.hpp>
#include <string>
#include <sync/sync.hpp>
#include <thread>

using namespace std::chrono_literals;
namespace net = fiber::net;

namespace {

// Child exit codes: 0 all good; others name the step that failed.
enum child_failure { spawn_join = 10, sleeping = 11, socket_echo = 12, parent_fiber_ran = 13, timers = 14 };

// What every child checks: fibers spawn and join on both workers, timers fire, a socket round trip
// goes through this process's own reactor.
int child_checks() {
  ::alarm(20);  // a child that hangs (no working runtime) dies with SIGALRM: the parent sees 142
  try {
    std::atomic<int> sum{0};
    std::vector<fiber::join_handle<void>> hs;
    for (int i = 0; i < 100; ++i) hs.push_back(fiber::spawn([&sum, i] { sum += i; }));
    for (auto& h : hs) h.join();
    if (sum != 4950) return spawn_join;
    const auto t0 = std::chrono::steady_clock::now();
    fiber::run([] { fiber::this_fiber::sleep_for(20ms); });
    if (std::chrono::steady_clock::now() - t0 < 20ms) return sleeping;
    auto ends = net::unix_stream::pair();
    auto& a = ends.first;
    auto& b = ends.second;
    auto echo = fiber::spawn([&b] {
      char buf[8];
      auto n = b.read_some(buf, 5s);
      b.write_all(net::const_buffer(buf, n), 5s);
    });
    std::string got = fiber::run([&a] {
      fiber::this_fiber::sleep_for(5ms);  // the echo fiber parks on its read first
      a.write_all(net::const_buffer("fork", 4), 5s);
      char buf[8];
      auto n = a.read_exact(net::mutable_buffer(buf, 4), 5s);
      return std::string(buf, n);
    });
    echo.join();
    if (got != "fork") return socket_echo;
    fiber::timed_mutex m;
    m.lock();
    const bool timed_out = !fiber::run([&m] { return m.try_lock_for(10ms); });
    m.unlock();
    if (!timed_out) return timers;
  } catch (...) {
    return 99;
  }
  return 0;
}

int wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool skip_under_tsan() {
#ifdef WEFT_TSAN
  return true;  // TSan does not support new threads after a multithreaded fork
#else
  return false;
#endif
}

TEST(Fork, FromTheMainThreadWhileFibersRun) {
  if (skip_under_tsan()) GTEST_SKIP() << "ThreadSanitizer cannot start threads after a multithreaded fork";
  // The parent is busy: a fiber counts, another is parked on a socket read.
  std::atomic<bool> stop{false};
  std::atomic<long> count{0};
  auto counter = fiber::spawn([&] {
    while (!stop) {
      ++count;
      fiber::this_fiber::sleep_for(1ms);
    }
  });
  auto ends = net::unix_stream::pair();
  auto& a = ends.first;
  auto& b = ends.second;
  auto reader = fiber::spawn([&b] {
    char c = 0;
    return b.read_some(net::mutable_buffer(&c, 1), 10s) == 1 ? c : '?';
  });
  std::this_thread::sleep_for(20ms);

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The parent's counter fiber must not run here.
    const long before = count.load();
    std::this_thread::sleep_for(30ms);
    if (count.load() != before) ::_exit(parent_fiber_ran);
    ::_exit(child_checks());
  }
  EXPECT_EQ(wait_child(pid), 0);
  // The parent is untouched: its parked reader still wakes through its own reactor.
  a.write_all(net::const_buffer("x", 1), 5s);
  EXPECT_EQ(reader.join(), 'x');
  const long seen = count.load();
  std::this_thread::sleep_for(20ms);
  EXPECT_GT(count.load(), seen) << "the parent's fibers stopped running after fork";
  stop = true;
  counter.join();
}

TEST(Fork, FromAFiberTheCallerGoesOnInTheChild) {
  if (skip_under_tsan()) GTEST_SKIP() << "ThreadSanitizer cannot start threads after a multithreaded fork";
  std::atomic<long> ticks{0};
  std::atomic<bool> stop{false};
  auto ticker = fiber::spawn([&] {
    while (!stop) {
      ++ticks;
      fiber::this_fiber::sleep_for(1ms);
    }
  });
  const int code = fiber::run([&ticks] {
    const pid_t pid = ::fork();
    if (pid == 0) {
      // On the same fiber, in the child: the parent's ticker is not here.
      const long before = ticks.load();
      fiber::this_fiber::sleep_for(30ms);
      if (ticks.load() != before) ::_exit(parent_fiber_ran);
      ::_exit(child_checks());
    }
    return pid < 0 ? -1 : fiber::blocking([pid] { return wait_child(pid); });
  });
  EXPECT_EQ(code, 0);
  stop = true;
  ticker.join();
}

// The child only execs: no thread starts in it (workers restart lazily), so this runs under TSan too.
TEST(Fork, ForkAndExecFromAFiber) {
  const int code = fiber::run([] {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", "exit 7", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid < 0 ? -1 : fiber::blocking([pid] { return wait_child(pid); });
  });
  EXPECT_EQ(code, 7);
}

TEST(Fork, ASocketInheritedFromTheParentWorksInTheChild) {
  if (skip_under_tsan()) GTEST_SKIP() << "ThreadSanitizer cannot start threads after a multithreaded fork";
  auto ends = net::unix_stream::pair();
  auto& a = ends.first;
  auto& b = ends.second;
  // Registered with the parent's reactor before the fork.
  fiber::run([&b] {
    char c;
    std::error_code ec;
    b.read_some(net::mutable_buffer(&c, 1), ec, 5ms);
  });
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::alarm(20);
    // The child registers the same socket with its own reactor and reads what the parent writes.
    char c = 0;
    std::error_code ec;
    const auto n = fiber::run([&] { return b.read_some(net::mutable_buffer(&c, 1), ec, 10s); });
    ::_exit(n == 1 && c == 'p' ? 0 : socket_echo);
  }
  std::this_thread::sleep_for(30ms);  // the child parks first
  a.write_all(net::const_buffer("p", 1), 5s);
  EXPECT_EQ(wait_child(pid), 0);
}

}  // namespace
