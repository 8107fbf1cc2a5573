// fiber_uring_test.cpp — the io_uring backend by name: it is used when asked for and the kernel has
// it; a ring that cannot start (forced with the test knob WEFT_TEST_IO_URING_FAIL=1, read by the
// backend's constructor) falls back to epoll with one line on stderr and the runtime works; waits
// are bounded by timers; wake-ups from plain threads reach a worker asleep in its ring; a fork child
// gets rings of its own. Skipped where io_uring is not built.
#include "echo_round_trip.hpp"
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <csignal>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fiber/detail/os/poller.hpp>
#include <fiber/fiber.hpp>
#include <net/net.hpp>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace fd = fiber::detail;
using steady = std::chrono::steady_clock;

namespace {

struct env_override {
  std::string name, saved;
  bool had = false;
  env_override(const char* n, const char* value) : name(n) {
    if (const char* e = std::getenv(n)) {
      saved = e;
      had = true;
    }
    if (value)
      ::setenv(n, value, 1);
    else
      ::unsetenv(n);
  }
  ~env_override() {
    if (had)
      ::setenv(name.c_str(), saved.c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

bool built() {
  return fd::io_backend_built(fiber::io_backend::io_uring);
}

}  // namespace

TEST(IoUring, UsedWhenAskedForByName) {
  if (!built()) GTEST_SKIP() << "io_uring is not built into this weft";
  env_override hide("WEFT_IO_BACKEND", nullptr);
  testing::internal::CaptureStderr();
  fiber::runtime rt({.workers = 2, .io_backend = fiber::io_backend::io_uring});
  const std::string err = testing::internal::GetCapturedStderr();
  if (rt.io_backend() != fiber::io_backend::io_uring) {
    // A kernel without io_uring (or seccomp): the fallback must have said so.
    EXPECT_NE(err.find("io backend 'io_uring' cannot start"), std::string::npos) << err;
    GTEST_SKIP() << "the kernel refused io_uring: " << err;
  }
  EXPECT_EQ(err, "");
  echo_round_trip(rt);
}

TEST(IoUring, EnvironmentNameSelectsIt) {
  if (!built()) GTEST_SKIP() << "io_uring is not built into this weft";
  env_override pick("WEFT_IO_BACKEND", "io_uring");
  fiber::runtime rt({.workers = 1, .io_backend = fiber::io_backend::epoll});
  EXPECT_TRUE(rt.io_backend() == fiber::io_backend::io_uring || rt.io_backend() == fd::platform_default_backend());
  echo_round_trip(rt);
}

TEST(IoUring, StartupFailureFallsBackToEpollWithOneLine) {
  if (!built()) GTEST_SKIP() << "io_uring is not built into this weft";
  env_override hide("WEFT_IO_BACKEND", nullptr);
  env_override fail("WEFT_TEST_IO_URING_FAIL", "1");
  testing::internal::CaptureStderr();
  fiber::runtime rt({.workers = 2, .io_backend = fiber::io_backend::io_uring});
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(rt.io_backend(), fd::platform_default_backend());
  EXPECT_EQ(err.rfind("weft: io backend 'io_uring' cannot start (", 0), 0u) << err;
  EXPECT_NE(err.find("; using 'epoll'\n"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;  // one line, not one per worker
  echo_round_trip(rt);
}

TEST(IoUring, TimersBoundTheRingWait) {
  if (!built()) GTEST_SKIP() << "io_uring is not built into this weft";
  fiber::runtime rt({.workers = 1, .io_backend = fiber::io_backend::io_uring});
  rt.run([] {
    for (int i = 0; i < 50; ++i) {
      const auto t0 = steady::now();
      fiber::this_fiber::sleep_for(2ms);
      EXPECT_GE(steady::now() - t0, 2ms);
    }
    // A deadline with nothing else to wake the worker: the ring wait itself must end.
    auto ends = fiber::net::unix_stream::pair();  // ends.first stays open and silent
    auto& b = ends.second;
    char c;
    std::error_code ec;
    const auto t0 = steady::now();
    b.read_some(fiber::net::mutable_buffer(&c, 1), ec, 30ms);
    EXPECT_EQ(ec, std::errc::timed_out);
    EXPECT_GE(steady::now() - t0, 30ms);
    EXPECT_LT(steady::now() - t0, 5s);
  });
}

// Spawns from a plain thread reach a worker that sleeps in its ring (the eventfd read wakes it).
TEST(IoUring, PlainThreadsWakeASleepingWorker) {
  if (!built()) GTEST_SKIP() << "io_uring is not built into this weft";
  fiber::runtime rt({.workers = 2, .io_backend = fiber::io_backend::io_uring});
  std::vector<std::thread> ts;
  std::atomic<int> ran{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        rt.run([&] { ++ran; });
        if (i % 50 == 0) std::this_thread::sleep_for(2ms);  // let the workers fall asleep
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ran.load(), 800);
}

// A child forked from a fiber on io_uring gets fresh rings (the parent's are never touched) and
// serves sockets; the parent's runtime goes on.
TEST(IoUring, ForkChildGetsRingsOfItsOwn) {
  if (!built()) GTEST_SKIP() << "io_uring is not built into this weft";
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer cannot start threads after a multithreaded fork";
#endif
  fiber::runtime rt({.workers = 2, .io_backend = fiber::io_backend::io_uring});
  const int status = rt.run([&] {
    auto ends = fiber::net::unix_stream::pair();  // not a structured binding: clang 14 cannot capture those
    auto& a = ends.first;
    auto& b = ends.second;
    char c;
    std::error_code ignored;
    b.read_some(fiber::net::mutable_buffer(&c, 1), ignored, 1ms);  // b is now known to the parent's ring
    const pid_t pid = ::fork();
    if (pid == 0) {
      int rc = 0;
      try {
        if (echo_through(a, b, "fork") != "fork") rc = 2;
      } catch (...) {
        rc = 3;
      }
      std::_Exit(rc);
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    return st;
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  echo_round_trip(rt);
}

namespace {
// Sets the ring-failure test hook for one test and restores "never fail" after it.
struct rings_before_failure {
  explicit rings_before_failure(int n) { fd::test_io_uring_rings_before_failure.store(n); }
  ~rings_before_failure() { fd::test_io_uring_rings_before_failure.store(-1); }
};
}  // namespace

// The first worker's ring starts, a later one's does not (locked memory runs out, say): the whole
// runtime moves to epoll, says so once, and every worker serves sockets.
TEST(IoUring, ALaterWorkersRingFailureMovesTheWholeRuntimeToEpoll) {
  if (!built()) GTEST_SKIP() << "io_uring is not built into this weft";
  env_override hide("WEFT_IO_BACKEND", nullptr);
  rings_before_failure hook(1);
  testing::internal::CaptureStderr();
  fiber::runtime rt({.workers = 3, .io_backend = fiber::io_backend::io_uring});
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(rt.io_backend(), fd::platform_default_backend());
  EXPECT_EQ(err.rfind("weft: io backend 'io_uring' cannot start (", 0), 0u) << err;
  EXPECT_NE(err.find("test hook"), std::string::npos) << err;
  EXPECT_NE(err.find("; using 'epoll'\n"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  // Connections from several fibers at once, so that every worker's poller gets descriptors.
  std::atomic<int> served{0};
  rt.run([&] {
    std::vector<fiber::join_handle<void>> hs;
    for (int i = 0; i < 6; ++i)
      hs.push_back(fiber::spawn([&] {
        auto ends = fiber::net::unix_stream::pair();
        if (echo_through(ends.first, ends.second, "ring") == "ring") ++served;
      }));
    for (auto& h : hs) h.join();
  });
  EXPECT_EQ(served.load(), 6);
  echo_round_trip(rt);
}

// A fork child must build rings of its own (the parent's belong to the parent). When the kernel
// refuses it one, the child cannot go on with the parent's backend: it stops at once with a
// message naming the backend and the worker, instead of running with no reactor.
TEST(IoUring, ForkChildWhoseRingCannotStartStopsWithAMessage) {
  if (!built()) GTEST_SKIP() << "io_uring is not built into this weft";
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer cannot start threads after a multithreaded fork";
#endif
  fiber::runtime rt({.workers = 2, .io_backend = fiber::io_backend::io_uring});
  if (rt.io_backend() != fiber::io_backend::io_uring) GTEST_SKIP() << "the kernel refused io_uring";
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const int status = rt.run([&] {
    auto ends = fiber::net::unix_stream::pair();
    auto& a = ends.first;
    fd::test_io_uring_rings_before_failure.store(0);  // every ring from now on fails (the child's)
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(out[1], 2);
      a.write_all("x", 1s);  // the first I/O in the child asks its worker for the child's ring
      std::_Exit(0);
    }
    fd::test_io_uring_rings_before_failure.store(-1);
    int st = 0;
    ::waitpid(pid, &st, 0);
    return st;
  });
  ::close(out[1]);
  std::string err;
  char buf[512];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) err.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited normally: " << err;
  EXPECT_EQ(WTERMSIG(status), SIGABRT);
  EXPECT_NE(err.find("weft: cannot create the io_uring poller of worker"), std::string::npos) << err;
  EXPECT_NE(err.find("after fork"), std::string::npos) << err;
  echo_round_trip(rt);
}
