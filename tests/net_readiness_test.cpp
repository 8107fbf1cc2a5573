// net_readiness_test.cpp — the readiness handshake of net/detail/poll_descriptor: a wait resumes at
// once only for an edge its caller's syscall may not have seen, and the system calls a stream
// read costs (one recv per message, as a hand-written epoll loop makes).
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fiber/fiber.hpp>
#include <net/detail/poll_descriptor.hpp>
#include <net/net.hpp>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "backend_in_use.hpp"
#include "tcp_pair.hpp"

using namespace std::chrono_literals;
namespace net = fiber::net;
using fiber::net::detail::io_kind;
using fiber::net::detail::poll_descriptor;
using steady = std::chrono::steady_clock;

namespace {

// A non-blocking socketpair whose first end is in a poll_descriptor (released at scope end).
struct pd_pair {
  poll_descriptor* pd = nullptr;
  int peer = -1;
  pd_pair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    pd = poll_descriptor::create(sv[0]);
    peer = sv[1];
  }
  ~pd_pair() {
    pd->release();
    ::close(peer);
  }
};

// Registers pd's socket with the reactor by a first wait, with nothing to read: the wait times out,
// and the registration's own report (if any) has passed.
void register_with_nothing_to_read(poll_descriptor& pd) {
  const std::uint32_t first = pd.edges(io_kind::read);
  EXPECT_EQ(pd.wait(io_kind::read, fiber::detail::clock::now() + 50ms, &first),
            std::make_error_code(std::errc::timed_out));
}

bool edge_arrives(const poll_descriptor& pd, std::uint32_t from) {
  const auto until = steady::now() + 10s;
  while (pd.edges(io_kind::read) == from) {
    if (steady::now() > until) return false;
    fiber::this_fiber::sleep_for(1ms);
  }
  return true;
}

}  // namespace

// The stale-readiness case behind two wasted recv calls per message: an edge wakes a reader, the
// reader drains the socket; its next wait (with the count read before its EAGAIN) must park, not
// return at once on the edge it has already consumed.
TEST(NetReadiness, AnEdgeTheReaderConsumedDoesNotEndItsNextWait) {
  fiber::run([] {
    pd_pair p;
    ASSERT_TRUE(p.pd->begin_op());
    char c = 'x';
    ASSERT_EQ(::write(p.peer, &c, 1), 1);
    // The first wait registers the socket; the registration reports it readable (an edge).
    const std::uint32_t before = p.pd->edges(io_kind::read);
    EXPECT_FALSE(p.pd->wait(io_kind::read, fiber::detail::clock::now() + 10s, &before));
    EXPECT_TRUE(edge_arrives(*p.pd, before));
    char got = 0;
    const std::uint32_t seen = p.pd->edges(io_kind::read);
    ASSERT_EQ(::read(p.pd->fd(), &got, 1), 1);
    EXPECT_EQ(got, 'x');
    ASSERT_EQ(::read(p.pd->fd(), &got, 1), -1);  // drained
    EXPECT_EQ(errno, EAGAIN);
    // No edge since `seen`: the wait parks until its deadline.
    const auto t0 = steady::now();
    EXPECT_EQ(p.pd->wait(io_kind::read, fiber::detail::clock::now() + 150ms, &seen),
              std::make_error_code(std::errc::timed_out));
    EXPECT_GE(steady::now() - t0, 140ms);
    // A count from before the edge: the syscall after it may have missed that edge, so retry at once.
    const auto t1 = steady::now();
    EXPECT_FALSE(p.pd->wait(io_kind::read, fiber::detail::clock::now() + 10s, &before));
    EXPECT_LT(steady::now() - t1, 5s);
    p.pd->end_op();
  });
}

// No lost wake-up: data that arrives between the syscall's EAGAIN and the park is an edge after
// the caller's count, so the wait returns at once instead of sleeping through it.
TEST(NetReadiness, AnEdgeBetweenEagainAndParkEndsTheWaitAtOnce) {
  fiber::run([] {
    pd_pair p;
    ASSERT_TRUE(p.pd->begin_op());
    register_with_nothing_to_read(*p.pd);
    const std::uint32_t seen = p.pd->edges(io_kind::read);
    char c = 'y';
    ASSERT_EQ(::write(p.peer, &c, 1), 1);  // "after the EAGAIN"
    ASSERT_TRUE(edge_arrives(*p.pd, seen));
    const auto t0 = steady::now();
    EXPECT_FALSE(p.pd->wait(io_kind::read, fiber::detail::clock::now() + 10s, &seen));
    EXPECT_LT(steady::now() - t0, 5s);
    char got = 0;
    EXPECT_EQ(::read(p.pd->fd(), &got, 1), 1);
    EXPECT_EQ(got, 'y');
    p.pd->end_op();
  });
}

// A non-blocking loopback TCP pair of raw descriptors (the read hint treats TCP and Unix apart).
static std::pair<int, int> raw_tcp_pair() {
  int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::listen(l, 1), 0);
  EXPECT_EQ(::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len), 0);
  int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  int s = ::accept4(l, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  ::close(l);
  return {s, c};
}

// The read hint: after a read that found the buffer empty, and until the next edge, a read parks
// first instead of trying a syscall that would only say EAGAIN. An edge after the read's count turns
// it off. A short read counts as "empty" on TCP only (a Unix stream read also stops early at a
// message carrying descriptors or credentials, with more queued behind it).
TEST(NetReadiness, ReadHintHoldsUntilTheNextEdge) {
  fiber::run([] {
    pd_pair p;
    ASSERT_TRUE(p.pd->begin_op());
    register_with_nothing_to_read(*p.pd);
    const std::uint32_t seen = p.pd->edges(io_kind::read);
    EXPECT_FALSE(p.pd->read_first_would_fail(seen));  // no read yet
    p.pd->note_read(/*eagain=*/true, false, seen);
    EXPECT_TRUE(p.pd->read_first_would_fail(seen));
    EXPECT_FALSE(p.pd->read_first_would_fail(seen + 1));  // judged against the caller's own count
    char c = 'z';
    ASSERT_EQ(::write(p.peer, &c, 1), 1);
    ASSERT_TRUE(edge_arrives(*p.pd, seen));
    EXPECT_FALSE(p.pd->read_first_would_fail(p.pd->edges(io_kind::read)));  // the new data must be read
    p.pd->note_read(false, /*short_read=*/true, p.pd->edges(io_kind::read));
    EXPECT_FALSE(p.pd->read_first_would_fail(p.pd->edges(io_kind::read)));  // Unix: a short read says nothing
    p.pd->note_read(false, false, p.pd->edges(io_kind::read));              // a full read: more may be there
    EXPECT_FALSE(p.pd->read_first_would_fail(p.pd->edges(io_kind::read)));
    p.pd->end_op();
  });
}

TEST(NetReadiness, ReadHintTakesAShortTcpReadAsEmpty) {
  // Under kqueue only EAGAIN counts: libkqueue reports data and end of stream as one plain event.
  const bool short_counts = backend_in_use() != fiber::io_backend::kqueue;
  fiber::run([short_counts] {
    auto [fd, peer] = raw_tcp_pair();
    ASSERT_GE(fd, 0);
    poll_descriptor* pd = poll_descriptor::create(fd);
    const std::uint32_t seen = pd->edges(io_kind::read);
    pd->note_read(false, /*short_read=*/true, seen);
    EXPECT_EQ(pd->read_first_would_fail(seen), short_counts);
    pd->note_read(false, false, seen);
    EXPECT_FALSE(pd->read_first_would_fail(seen));
    pd->release();
    ::close(peer);
  });
}

// Readers that move between workers: each read of the client side runs in a fresh fiber, which may
// land on a worker other than the one whose reactor delivers the socket's events (the reactor then
// counts edges while the reader checks its hint). Every reply must arrive; a lost wake-up would
// show as a read timing out.
TEST(NetReadiness, ReadersOnOtherWorkersThanTheReactorMissNothing) {
  fiber::runtime rt({.workers = 2});
  rt.run([] {
    constexpr int pairs = 4, rounds = 500;
    std::vector<fiber::join_handle<void>> hs;
    for (int p = 0; p < pairs; ++p)
      hs.push_back(fiber::spawn([p] {
        auto conn = connected_pair();  // (no structured bindings: clang 14 cannot capture them)
        auto& client = conn.first;
        auto& server = conn.second;
        auto echo = fiber::spawn([&server] {
          char buf[128];
          while (auto k = server.read_some(net::mutable_buffer(buf, sizeof buf), 10s))
            server.write_all(net::const_buffer(buf, k));
        });
        for (int i = 0; i < rounds; ++i) {
          const char m = static_cast<char>('a' + (i + p) % 26);
          client.write_all(net::const_buffer(&m, 1));
          char got = 0;
          std::error_code ec;
          fiber::spawn([&] { (void)client.read_some(net::mutable_buffer(&got, 1), ec, 10s); }).join();
          ASSERT_FALSE(ec) << "pair " << p << " round " << i << ": " << ec.message();
          ASSERT_EQ(got, m) << "pair " << p << " round " << i;
        }
        client.shutdown(net::shutdown_mode::send);
        echo.join();
      }));
    for (auto& h : hs) h.join();
  });
}

// Through the public API: a ping-pong where every read is short (so each next read parks first)
// loses no message, in order, on whichever backend runs the suite.
TEST(NetReadiness, ShortReadPingPongLosesNothing) {
  fiber::run([] {
    auto conn = connected_pair();  // (no structured bindings: clang 14 cannot capture them)
    auto& client = conn.first;
    auto& server = conn.second;
    constexpr int rounds = 500;
    auto echo = fiber::spawn([&server] {
      char buf[256];
      int n = 0;
      while (auto k = server.read_some(net::mutable_buffer(buf, sizeof buf), 10s)) {
        server.write_all(net::const_buffer(buf, k));
        ++n;
      }
      return n;
    });
    char msg[64], back[64];
    for (int i = 0; i < rounds; ++i) {
      std::memset(msg, 'a' + i % 26, sizeof msg);
      client.write_all(net::const_buffer(msg, sizeof msg));
      std::size_t got = 0;
      while (got < sizeof back) got += client.read_some(net::mutable_buffer(back + got, sizeof back - got), 10s);
      ASSERT_EQ(std::memcmp(msg, back, sizeof msg), 0) << "round " << i;
    }
    client.shutdown(net::shutdown_mode::send);
    const int reads = echo.join();
    EXPECT_GE(reads, 1);
    EXPECT_LE(reads, rounds);
  });
}

// A peer that writes and closes at once: one readiness event reports the data and the end of
// stream together, before the reader runs. The reader's read returns the data (a short read), and
// its next read must return the end of stream (0) — not park for an edge that will never come
// (the read hint must not treat an edge that reported a hang-up as consumed by a read of data).
TEST(NetReadiness, EndOfStreamThatCameWithTheDataIsReadNotWaitedFor) {
  fiber::runtime rt({.workers = 1});
  rt.run([] {
    auto conn = connected_pair();  // (no structured bindings: clang 14 cannot capture them)
    auto& client = conn.first;
    auto& server = conn.second;
    auto reader = fiber::spawn([&server] {
      std::string got;
      char buf[256];
      std::error_code ec;
      while (auto n = server.read_some(net::mutable_buffer(buf, sizeof buf), ec, 5s)) got.append(buf, n);
      return std::make_pair(got, ec);
    });
    fiber::this_fiber::sleep_for(20ms);  // the reader is parked in its first read
    client.write_all("hello");
    client.shutdown(net::shutdown_mode::send);
    const auto t0 = steady::now();
    auto [got, ec] = reader.join();
    EXPECT_EQ(got, "hello");
    EXPECT_FALSE(ec) << ec.message();  // the end of stream, not a timeout
    EXPECT_LT(steady::now() - t0, 4s);
  });
}
