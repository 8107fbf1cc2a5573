// hook_overlap_test.cpp — the hooks park the fiber, not the worker: on a one-worker runtime, N fibers
// each blocked in a hooked call (read, usleep, nanosleep, sleep-free poll, connect+accept) overlap,
// so the total is near one wait instead of N. And the same calls made off any fiber (main, plain
// threads) behave like libc's, including on descriptors a fiber has switched to non-blocking.
#include <fiber/detail/sanitizers.hpp>  // WEFT_TSAN
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netdb.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fiber/fiber.hpp>
#include <thread>
#include <vector>
#include "../one_worker.hpp"

using weft_test::one_worker;

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

constexpr int N = 8;
constexpr auto wait_time = 200ms;

template <class Body>
std::chrono::milliseconds overlap(Body body) {
  auto& rt = one_worker();
  auto t0 = steady::now();
  rt.run([&] {
    std::vector<fiber::join_handle<void>> hs;
    for (int i = 0; i < N; ++i) hs.push_back(fiber::spawn([&body, i] { body(i); }));
    for (auto& h : hs) h.join();
  });
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0);
}

// Bypasses the hooks: the kernel's view of the flags.
int real_flags(int fd) {
  return static_cast<int>(::syscall(SYS_fcntl, fd, F_GETFL));
}

}  // namespace

TEST(HookOverlap, SleepsOverlapOnOneWorker) {
  auto t = overlap([](int i) {
    if (i % 3 == 0) {
      usleep(200'000);
    } else if (i % 3 == 1) {
      timespec ts{0, 200'000'000};
      nanosleep(&ts, nullptr);
    } else {
      poll(nullptr, 0, 200);
    }
  });
  EXPECT_GE(t, wait_time);
  EXPECT_LT(t, wait_time * 3) << "N=" << N << " sleeps did not overlap";
}

TEST(HookOverlap, BlockingReadsOverlapOnOneWorker) {
  int sv[N][2];
  for (auto& p : sv) ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
  // A plain thread writes to every pair after the wait; the readers are all parked meanwhile.
  std::thread writer([&] {
    std::this_thread::sleep_for(wait_time);
    for (auto& p : sv) EXPECT_EQ(write(p[1], "x", 1), 1);
  });
  std::atomic<int> ok{0};
  auto t = overlap([&](int i) {
    char c;
    if (read(sv[i][0], &c, 1) == 1) ++ok;
  });
  writer.join();
  EXPECT_EQ(ok.load(), N);
  EXPECT_LT(t, wait_time * 3);
  for (auto& p : sv) {
    close(p[0]);
    close(p[1]);
  }
}

TEST(HookOverlap, PollAndEpollWaitsParkUntilAnotherFiberWrites) {
  // Half the fibers poll(), half epoll_wait() with no timeout on their own socket; the last fiber
  // on the same single worker writes to each. Only possible if the waits park the fibers.
  int sv[N][2];
  int ep[N];
  for (int i = 0; i < N; ++i) {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]), 0);
    ep[i] = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    ASSERT_EQ(epoll_ctl(ep[i], EPOLL_CTL_ADD, sv[i][0], &ev), 0);
  }
  std::atomic<int> ok{0};
  auto t = overlap([&](int i) {
    if (i == N - 1) {
      usleep(100'000);
      for (int j = 0; j < N - 1; ++j) EXPECT_EQ(write(sv[j][1], "x", 1), 1);
      return;
    }
    if (i % 2) {
      pollfd p{sv[i][0], POLLIN, 0};
      if (poll(&p, 1, -1) == 1 && p.revents == POLLIN) ++ok;
    } else {
      epoll_event out{};
      if (epoll_wait(ep[i], &out, 1, -1) == 1 && out.data.u32 == static_cast<std::uint32_t>(i)) ++ok;
    }
  });
  EXPECT_EQ(ok.load(), N - 1);
  EXPECT_LT(t, 5s);
  for (int i = 0; i < N; ++i) {
    close(sv[i][0]);
    close(sv[i][1]);
    close(ep[i]);
  }
}

TEST(HookOverlap, StopRequestEndsPollSelectAndEpollWaitsWithEintr) {
  // Fibers parked with no timeout in poll (one fd: its own reactor registration; two fds: the
  // private epoll), select and epoll_wait on sockets that never become ready; a stop request on
  // each fiber ends its wait with -1/EINTR.
  int sv[2], sv2[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv2), 0);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev), 0);
  std::atomic<int> eintr{0}, started{0};
  auto& rt = one_worker();
  rt.run([&] {
    auto wait_in = [&](int kind) {
      return fiber::spawn([&, kind] {
        ++started;
        int r = -2;
        if (kind == 0) {
          pollfd p{sv[0], POLLIN, 0};
          r = poll(&p, 1, -1);
        } else if (kind == 1) {
          pollfd p[2] = {{sv[0], POLLIN, 0}, {sv2[0], POLLIN, 0}};
          r = poll(p, 2, -1);
        } else if (kind == 2) {
          fd_set rs;
          FD_ZERO(&rs);
          FD_SET(sv[0], &rs);
          r = select(sv[0] + 1, &rs, nullptr, nullptr, nullptr);
        } else {
          epoll_event out{};
          r = epoll_wait(ep, &out, 1, -1);
        }
        if (r == -1 && errno == EINTR) ++eintr;
      });
    };
    std::vector<fiber::join_handle<void>> hs;
    for (int kind = 0; kind < 4; ++kind) hs.push_back(wait_in(kind));
    while (started.load() < 4) fiber::this_fiber::yield();
    usleep(50'000);  // all four are parked now
    for (auto& h : hs) h.request_stop();
    for (auto& h : hs) h.join();
  });
  EXPECT_EQ(eintr.load(), 4);
  for (int fd : {sv[0], sv[1], sv2[0], sv2[1], ep}) close(fd);
}

TEST(HookOverlap, TimeoutsOverlapOnOneWorker) {
  int sv[N][2];
  for (auto& p : sv) {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
    timeval tv{0, 200'000};
    ASSERT_EQ(setsockopt(p[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  }
  std::atomic<int> eagain{0};
  auto t = overlap([&](int i) {
    char c;
    if (read(sv[i][0], &c, 1) == -1 && errno == EAGAIN) ++eagain;
  });
  EXPECT_EQ(eagain.load(), N);
  EXPECT_GE(t, wait_time);
  EXPECT_LT(t, wait_time * 3);
  for (auto& p : sv) {
    close(p[0]);
    close(p[1]);
  }
}

TEST(HookOverlap, ClientsAndServerShareOneWorker) {
  // Server and clients on the same single worker: only possible if accept/connect/read/write park.
  auto& rt = one_worker();
  std::atomic<int> echoed{0};
  rt.run([&] {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
    ASSERT_EQ(listen(l, 64), 0);
    auto server = fiber::spawn([l] {
      std::vector<fiber::join_handle<void>> conns;
      for (int i = 0; i < N; ++i) {
        int s = accept(l, nullptr, nullptr);
        if (s < 0) break;
        conns.push_back(fiber::spawn([s] {
          char buf[64];
          ssize_t n;
          while ((n = read(s, buf, sizeof buf)) > 0) write(s, buf, static_cast<size_t>(n));
          close(s);
        }));
      }
      for (auto& c : conns) c.join();
    });
    std::vector<fiber::join_handle<void>> clients;
    for (int i = 0; i < N; ++i)
      clients.push_back(fiber::spawn([a, &echoed] {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        timeval tv{5, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(c, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) return;
        usleep(50'000);
        char buf[8];
        if (write(c, "hello", 5) == 5 && read(c, buf, sizeof buf) == 5) ++echoed;
        close(c);
      }));
    for (auto& c : clients) c.join();
    server.join();
    close(l);
  });
  EXPECT_EQ(echoed.load(), N);
}

// waitpid/wait on a fiber park it: a sibling on the same single worker keeps ticking while a child
// process runs, and the status is the child's. waitpid(pid) waits on a pidfd, wait() polls.
TEST(HookOverlap, WaitingForAChildParksOnlyTheFiber) {
  // The children only sleep and exit (no weft call, so no thread starts in them: fine under TSan).
  auto& rt = one_worker();
  for (bool any_child : {false, true}) {
    SCOPED_TRACE(any_child ? "wait()" : "waitpid(pid)");
    std::atomic<bool> waiting{true};
    std::atomic<int> ticks{0};
    auto ticker = rt.spawn([&] {
      while (waiting) {
        ++ticks;
        // weft's own sleep, not usleep: under TSan a fiber that parks inside TSan's usleep
        // interceptor hides the scheduler's locking from it (a false race report).
        fiber::this_fiber::sleep_for(std::chrono::milliseconds(1));
      }
    });
    const int status = rt.run([&] {
      const pid_t pid = fork();
      if (pid == 0) {
        struct timespec t {
          0, 200'000'000
        };
        syscall(SYS_nanosleep, &t, nullptr);
        _exit(any_child ? 4 : 3);
      }
      int st = -1;
      const pid_t got = any_child ? wait(&st) : waitpid(pid, &st, 0);
      waiting = false;
      return got == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    });
    ticker.join();
    EXPECT_EQ(status, any_child ? 4 : 3);
    EXPECT_GE(ticks.load(), 40) << "the worker was blocked while its fiber waited for the child";
  }
}

TEST(HookOffFiber, MainThreadCallsAreLibcs) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  // Off a fiber nothing is adopted: the kernel flags are the program's.
  EXPECT_EQ(real_flags(sv[0]) & O_NONBLOCK, 0);
  EXPECT_EQ(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
  timespec ts{0, 20'000'000};
  auto t0 = steady::now();
  EXPECT_EQ(nanosleep(&ts, nullptr), 0);
  EXPECT_GE(steady::now() - t0, 20ms);
  std::thread w([&] {
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(write(sv[1], "m", 1), 1);
  });
  char c;
  EXPECT_EQ(read(sv[0], &c, 1), 1);  // blocks the main thread like libc's
  w.join();
  close(sv[0]);
  close(sv[1]);
}

TEST(HookOffFiber, DescriptorAdoptedByAFiberStillBlocksOnAThread) {
  int sv[2];
  one_worker().run([&] {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    // On the fiber the real fd is non-blocking, the program's view is not.
    EXPECT_NE(real_flags(sv[0]) & O_NONBLOCK, 0);
    EXPECT_EQ(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
  });
  // From main: still reported blocking, and read waits for data instead of returning EAGAIN.
  EXPECT_EQ(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
  std::thread w([&] {
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(write(sv[1], "t", 1), 1);
  });
  char c = 0;
  auto t0 = steady::now();
  EXPECT_EQ(read(sv[0], &c, 1), 1);
  EXPECT_GE(steady::now() - t0, 40ms);
  w.join();
  EXPECT_EQ(close(sv[0]), 0);
  EXPECT_EQ(close(sv[1]), 0);
}

TEST(HookOffFiber, CloseFromAThreadWakesAParkedFiber) {
#ifdef WEFT_TSAN
  // TSan's close() interceptor marks the fd written *before* our hook runs (and synchronises with the
  // parked reader), so it reports close-vs-blocked-read as a race here, as it does for plain threads.
  GTEST_SKIP() << "close racing a blocked reader is a race in TSan's fd model";
#endif
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  std::atomic<int> result{1}, err{0};
  auto h = one_worker().spawn([&] {
    char c;
    result = static_cast<int>(read(sv[0], &c, 1));  // no timeout: only the close can end it
    err = errno;
  });
  std::this_thread::sleep_for(80ms);
  auto t0 = steady::now();
  EXPECT_EQ(close(sv[0]), 0);
  h.join();
  EXPECT_LT(steady::now() - t0, 1s);
  EXPECT_EQ(result.load(), -1);
  EXPECT_EQ(err.load(), EBADF);
  close(sv[1]);
}

TEST(HookDns, GetaddrinfoListsAreFreedByTheirOwner) {
#if defined(__SANITIZE_THREAD__)
  // See Conformance.GetaddrinfoNumericLocalhostAndHostsFile: TSan's getaddrinfo interceptor
  // cannot have a fiber park inside it.
  GTEST_SKIP() << "TSan's own getaddrinfo interceptor cannot be parked across";
#endif
  // Ours (fiber, c-ares path) and libc's (main thread) both go through the hooked freeaddrinfo.
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* from_fiber = nullptr;
  fiber::run([&] { EXPECT_EQ(getaddrinfo("localhost", "80", &hints, &from_fiber), 0); });
  addrinfo* from_main = nullptr;
  EXPECT_EQ(getaddrinfo("localhost", "80", &hints, &from_main), 0);
  ASSERT_NE(from_fiber, nullptr);
  ASSERT_NE(from_main, nullptr);
  freeaddrinfo(from_main);
  fiber::run([&] { freeaddrinfo(from_fiber); });
}
