// net_scale_connections_test.cpp — 10,000 concurrent TCP connections, every byte echoed back.
//
// The server side (one fiber per connection) runs in this process; the 10,000 client sockets live in
// a forked child that uses only raw syscalls (no allocation, no runtime), so each process needs ~10k
// descriptors and the test fits a hard RLIMIT_NOFILE of 20,000. The child opens every connection
// before sending anything, so all 10,000 are open at once; the server records the peak.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fiber/fiber.hpp>
#include <net/net.hpp>
#include <thread>

using namespace std::chrono_literals;
namespace net = fiber::net;

namespace {

#if defined(__SANITIZE_THREAD__)
constexpr int conns = 500;  // TSan makes every syscall interceptor in the forked client ~100x slower
#else
constexpr int conns = 10'000;
#endif
constexpr int msg = 64;
int client_fds[conns];

void fill(unsigned char* p, int i) {
  for (int k = 0; k < msg; ++k) p[k] = static_cast<unsigned char>((i * 7 + k * 13) ^ (i >> 8));
}

// Child body: only async-signal-safe calls.
[[noreturn]] void run_clients(const net::endpoint& ep) {
  for (int i = 0; i < conns; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) ::_exit(10);
    timeval tv{20, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (::connect(fd, ep.data(), ep.size()) < 0) {
      if (errno != EINTR) ::_exit(11);
    }
    client_fds[i] = fd;
  }
  unsigned char out[msg], in[msg];
  for (int i = 0; i < conns; ++i) {
    fill(out, i);
    if (::send(client_fds[i], out, msg, MSG_NOSIGNAL) != msg) ::_exit(12);
  }
  for (int i = 0; i < conns; ++i) {
    int got = 0;
    while (got < msg) {
      auto n = ::recv(client_fds[i], in + got, msg - got, 0);
      if (n <= 0) ::_exit(13);
      got += static_cast<int>(n);
    }
    fill(out, i);
    if (std::memcmp(in, out, msg) != 0) ::_exit(14);
  }
  for (int i = 0; i < conns; ++i) ::close(client_fds[i]);
  ::_exit(0);
}

}  // namespace

// 500 connections under TSan (the Release run holds all 10,000).
TEST(NetScale, TenThousandConcurrentConnectionsEcho) {
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  if (old.rlim_max != RLIM_INFINITY && old.rlim_max < conns + 500)
    GTEST_SKIP() << "hard RLIMIT_NOFILE " << old.rlim_max << " < " << conns + 500;
  rlimit raised = old;
  raised.rlim_cur = old.rlim_max == RLIM_INFINITY ? conns * 2 + 1000 : old.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &raised), 0);

  auto listener = net::tcp_listener::bind(net::endpoint::loopback_v4(0), {.backlog = 4096});
  auto ep = listener.local_endpoint();
  std::atomic<int> open{0}, peak{0}, echoed{0};
  auto server = fiber::spawn([&] {
    for (int i = 0; i < conns; ++i) {
      std::error_code ec;
      auto s = listener.accept(ec, 30s);
      if (ec) {
        ADD_FAILURE() << "accept " << i << ": " << ec.message();
        return;
      }
      int now = ++open;
      int p = peak.load();
      while (now > p && !peak.compare_exchange_weak(p, now)) {
      }
      fiber::spawn({.name = "echo", .stack_size = 16 * 1024}, [&, s = std::move(s)]() mutable {
        char buf[256];
        std::error_code e;
        std::size_t total = 0;
        while (auto n = s.read_some(buf, e, 30s)) {
          if (s.write_all(net::const_buffer(buf, n), e, 30s) != n) break;
          total += n;
        }
        if (total == msg) ++echoed;
        --open;
      });
    }
  });

  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) run_clients(ep);

  int status = 0;
  auto until = std::chrono::steady_clock::now() + 120s;  // generous: sanitizer builds on a loaded CI machine
  while (::waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > until) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      ADD_FAILURE() << "client process timed out";
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  server.join();
  for (int i = 0; i < 500 && open.load() > 0; ++i) std::this_thread::sleep_for(10ms);
  listener.close();
  ::setrlimit(RLIMIT_NOFILE, &old);
  EXPECT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "client failure code (10 socket, 11 connect, 12 send, 13 recv, 14 mismatch)";
  EXPECT_EQ(peak.load(), conns);
  EXPECT_EQ(echoed.load(), conns);
  EXPECT_EQ(open.load(), 0);
}
