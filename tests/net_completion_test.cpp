// net_completion_test.cpp — what a completion backend (io_uring) must keep exact, checked on every
// backend (the suites run once per backend by name): a deadline or stop request that races the
// data never loses bytes or connections (the cancelled operation reports what it did), close() with
// operations in flight wakes them with EBADF and really closes, more operations in flight on one
// worker than its ring has submission slots, datagrams with their addresses. The tests that need
// io_uring itself say so and skip elsewhere.
#include "backend_in_use.hpp"
#include "tcp_pair.hpp"
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fiber/detail/os/poller.hpp>
#include <fiber/fiber.hpp>
#include <net/net.hpp>
#include <random>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace net = fiber::net;
using steady = std::chrono::steady_clock;

// A reader with short deadlines races a writer thread sending numbered bytes at random moments:
// whichever of data and deadline wins, every byte arrives exactly once and in order.
TEST(NetCompletion, ReadDeadlineRacingDataNeverLosesBytes) {
  fiber::runtime rt({.workers = 1});
  rt.run([] {
    auto [c, s] = connected_pair();
    constexpr int total = 3000;
    std::thread writer([&c = c] {
      std::mt19937 rng(7);
      for (int i = 0; i < total; ++i) {
        const auto b = static_cast<unsigned char>(i & 0xff);
        c.write_all(net::const_buffer(&b, 1), 5s);
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 120));
      }
      c.shutdown(net::shutdown_mode::send);
    });
    std::mt19937 rng(11);
    int got = 0, timeouts = 0;
    bool in_order = true;
    for (;;) {
      unsigned char buf[64];
      std::error_code ec;
      const auto n = s.read_some(buf, ec, std::chrono::microseconds(20 + rng() % 150));
      if (ec == std::errc::timed_out) {
        ++timeouts;
        continue;
      }
      ASSERT_FALSE(ec) << ec.message();
      if (n == 0) break;
      for (std::size_t k = 0; k < n; ++k) in_order = in_order && buf[k] == static_cast<unsigned char>((got + k) & 0xff);
      got += static_cast<int>(n);
    }
    writer.join();
    EXPECT_EQ(got, total);
    EXPECT_TRUE(in_order);
    EXPECT_GT(timeouts, 0);  // the race really happened
  });
}

// The same for accept: connections that arrive as an accept times out are accepted by the next one.
TEST(NetCompletion, AcceptDeadlineRacingConnectsNeverLosesAConnection) {
  fiber::runtime rt({.workers = 1});
  rt.run([] {
    auto l = net::tcp_listener::bind(net::endpoint::loopback_v4(0), {.backlog = 1024});
    const auto ep = l.local_endpoint();
    constexpr int total = 400;
    std::thread clients([ep] {
      std::mt19937 rng(3);
      std::vector<net::tcp_stream> keep;
      for (int i = 0; i < total; ++i) {
        keep.push_back(net::tcp_stream::connect(ep, 5s));
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
      }
      std::this_thread::sleep_for(200ms);  // the server counts them while they are open
    });
    std::mt19937 rng(5);
    int accepted = 0;
    auto until = steady::now() + 20s;
    while (accepted < total && steady::now() < until) {
      std::error_code ec;
      auto s = l.accept(ec, std::chrono::microseconds(30 + rng() % 200));
      if (ec == std::errc::timed_out) continue;
      ASSERT_FALSE(ec) << ec.message();
      ++accepted;
    }
    clients.join();
    EXPECT_EQ(accepted, total);
  });
}

// close() from a plain thread while a fiber is parked in a read: EBADF, promptly, and the socket is
// really closed (the peer reads end of stream) although the kernel held the operation.
TEST(NetCompletion, CloseFromAThreadWakesAReadInFlightWithEbadf) {
  fiber::runtime rt({.workers = 2});
  for (int round = 0; round < 20; ++round) {
    auto [c, s] = rt.run([] { return connected_pair(); });
    std::atomic<bool> parked{false};
    auto reader = rt.spawn([&c = c, &parked] {
      char buf[8];
      std::error_code ec;
      parked = true;
      c.read_some(buf, ec, 10s);
      return ec;
    });
    while (!parked) std::this_thread::sleep_for(100us);
    std::this_thread::sleep_for(std::chrono::milliseconds(round % 3));
    const auto t0 = steady::now();
    c.close();
    EXPECT_EQ(reader.join(), std::errc::bad_file_descriptor);
    EXPECT_LT(steady::now() - t0, 2s);
    char b;
    EXPECT_EQ(rt.run([&s = s, &b] { return s.read_some(net::mutable_buffer(&b, 1), 5s); }), 0u);
  }
}

// A stop request cancels a read in flight (operation_canceled); bytes sent afterwards are read by
// the next call, none lost to the cancelled one.
TEST(NetCompletion, StopRequestCancelsAReadAndLosesNothing) {
  fiber::run([] {
    auto [c, s] = connected_pair();
    for (int round = 0; round < 50; ++round) {
      std::atomic<bool> parked{false};
      auto reader = fiber::spawn([&s = s, &parked](std::stop_token) {
        char buf[8];
        std::error_code ec;
        parked = true;
        const auto n = s.read_some(buf, ec, 10s);
        return ec ? -1 : static_cast<int>(n);
      });
      while (!parked) fiber::this_fiber::yield();
      if (round % 2) fiber::this_fiber::sleep_for(200us);
      reader.request_stop();
      if (round % 3 == 0) c.write_all("z", 5s);  // may race the cancellation
      const int r = reader.join();
      if (round % 3 == 0) {
        if (r == 1) continue;  // the read won: it has the byte
        EXPECT_EQ(r, -1);
        char b = 0;
        EXPECT_EQ(s.read_some(net::mutable_buffer(&b, 1), 5s), 1u);  // still there for the next read
        EXPECT_EQ(b, 'z');
      } else {
        EXPECT_EQ(r, -1);
      }
    }
  });
}

// More operations in flight on one worker than its ring has submission entries (512): all complete.
TEST(NetCompletion, ThousandsOfReadsInFlightOnOneWorker) {
  fiber::runtime rt({.workers = 1});
  rt.run([] {
    constexpr int n = 1500;
    std::vector<std::pair<net::unix_stream, net::unix_stream>> pairs;
    for (int i = 0; i < n; ++i) pairs.push_back(net::unix_stream::pair());
    std::atomic<int> parked{0};
    std::vector<fiber::join_handle<char>> readers;
    for (int i = 0; i < n; ++i)
      readers.push_back(fiber::spawn([&, i] {
        char b = 0;
        ++parked;
        pairs[static_cast<std::size_t>(i)].second.read_some(net::mutable_buffer(&b, 1), 10s);
        return b;
      }));
    while (parked < n) fiber::this_fiber::yield();
    fiber::this_fiber::sleep_for(5ms);
    for (int i = 0; i < n; ++i) {
      const char b = static_cast<char>('a' + i % 26);
      pairs[static_cast<std::size_t>(i)].first.write_all(net::const_buffer(&b, 1), 5s);
    }
    for (int i = 0; i < n; ++i) EXPECT_EQ(readers[static_cast<std::size_t>(i)].join(), 'a' + i % 26);
  });
}

// recvfrom/sendto run as recvmsg/sendmsg completions on io_uring: the sender's address comes back.
TEST(NetCompletion, DatagramsCarryTheirAddresses) {
  fiber::run([] {
    auto a = net::udp_socket::bind(net::endpoint::loopback_v4(0));
    auto b = net::udp_socket::bind(net::endpoint::loopback_v4(0));
    auto reader = fiber::spawn([&] {
      char buf[16];
      net::endpoint from;
      const auto n = b.recv_from(buf, from, 5s);
      return std::make_pair(std::string(buf, n), from);
    });
    fiber::this_fiber::sleep_for(5ms);
    a.send_to("hello", b.local_endpoint(), 5s);
    auto [text, from] = reader.join();
    EXPECT_EQ(text, "hello");
    EXPECT_EQ(from, a.local_endpoint());
  });
}

// On io_uring, a fiber's read really is in the kernel while it waits: the worker is free (another
// fiber on the same single worker runs) and nothing spins.
TEST(NetCompletion, AReadInTheRingLeavesTheWorkerFree) {
  if (backend_in_use() != fiber::io_backend::io_uring) GTEST_SKIP() << "io_uring only";
  fiber::runtime rt({.workers = 1});
  EXPECT_EQ(rt.io_backend(), fiber::io_backend::io_uring);
  rt.run([] {
    auto [c, s] = connected_pair();
    auto reader = fiber::spawn([&s = s] {
      char buf[4];
      return s.read_some(buf, 5s);
    });
    int ticks = 0;
    for (; ticks < 20; ++ticks) fiber::this_fiber::sleep_for(1ms);
    c.write_all("abc", 5s);
    EXPECT_EQ(reader.join(), 3u);
    EXPECT_EQ(ticks, 20);
  });
}
