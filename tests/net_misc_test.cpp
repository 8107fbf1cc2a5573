// net_misc_test.cpp — udp_socket, Unix-domain streams and resolve() (c-ares through the reactor).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fiber/fiber.hpp>
#include <fstream>
#include <net/net.hpp>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
namespace net = fiber::net;
using steady = std::chrono::steady_clock;

TEST(NetUdp, SendToRecvFromAndConnected) {
  fiber::run([] {
    auto a = net::udp_socket::bind(net::endpoint::loopback_v4(0));
    auto b = net::udp_socket::open(AF_INET);
    auto to = a.local_endpoint();
    EXPECT_EQ(b.send_to("ping", to, 1s), 4u);
    char buf[64];
    net::endpoint from;
    auto n = a.recv_from(buf, from, 5s);
    EXPECT_EQ(std::string(buf, n), "ping");
    EXPECT_TRUE(from.is_loopback());
    EXPECT_NE(from.port(), 0);
    // Reply to the sender, who waits in a spawned fiber.
    auto h = fiber::spawn([&] {
      char r[16];
      net::endpoint f;
      auto k = b.recv_from(r, f, 5s);
      return std::string(r, k);
    });
    fiber::this_fiber::sleep_for(10ms);
    a.send_to("pong", from);
    EXPECT_EQ(h.join(), "pong");
    // Connected mode.
    b.connect(to);
    EXPECT_EQ(b.remote_endpoint(), to);
    b.send("connected");
    n = a.recv_from(buf, from, 5s);
    EXPECT_EQ(std::string(buf, n), "connected");
    a.send_to("back", from);
    n = b.recv(buf, 5s);
    EXPECT_EQ(std::string(buf, n), "back");
    // Truncation: one datagram per call, the excess is dropped.
    b.send("0123456789");
    n = a.recv(net::mutable_buffer(buf, 4), 5s);
    EXPECT_EQ(n, 4u);
    // Deadline and cancellation.
    std::error_code ec;
    auto t0 = steady::now();
    a.recv_from(buf, from, ec, 50ms);
    EXPECT_EQ(ec, std::errc::timed_out);
    EXPECT_GE(steady::now() - t0, 45ms);
    auto w = fiber::spawn([&] {
      std::error_code e;
      a.recv(buf, e);
      return e;
    });
    fiber::this_fiber::sleep_for(20ms);
    w.request_stop();
    EXPECT_EQ(w.join(), std::errc::operation_canceled);
  });
}

TEST(NetUdp, ConnectedToClosedPortReportsRefused) {
  fiber::run([] {
    net::endpoint dead;
    {
      auto s = net::udp_socket::bind(net::endpoint::loopback_v4(0));
      dead = s.local_endpoint();
    }
    auto c = net::udp_socket::open();
    c.connect(dead);
    c.send("x");
    char b[4];
    std::error_code ec;
    c.recv(b, ec, 2s);
    EXPECT_EQ(ec, std::errc::connection_refused) << ec.message();
  });
}

TEST(NetUnix, ListenerStreamAndPair) {
  std::string path = "/tmp/weft_net_test_" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  fiber::run([&] {
    auto l = net::unix_listener::bind(path);
    EXPECT_EQ(l.path(), path);
    EXPECT_EQ(::access(path.c_str(), F_OK), 0);
    std::error_code ec;
    net::unix_listener::bind(path, ec);
    EXPECT_EQ(ec, std::errc::address_in_use);
    auto h = fiber::spawn([&] {
      auto s = l.accept(5s);
      char buf[32];
      while (auto n = s.read_some(buf, 5s)) s.write_all(net::const_buffer(buf, n));
    });
    auto c = net::unix_stream::connect(path, 5s);
    c.write_all("unix!");
    char b[5];
    c.read_exact(b, 5s);
    EXPECT_EQ(std::string(b, 5), "unix!");
    c.shutdown(net::shutdown_mode::send);
    h.join();
    l.accept(ec, 30ms);
    EXPECT_EQ(ec, std::errc::timed_out);
    l.close();
    EXPECT_NE(::access(path.c_str(), F_OK), 0);  // unlinked
    net::unix_stream::connect(path, ec, 1s);
    EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
    net::unix_stream::connect(std::string(200, 'x'), ec);
    EXPECT_EQ(ec, std::errc::filename_too_long);

    auto xy_pair = net::unix_stream::pair();
    auto& x = xy_pair.first;
    auto& y = xy_pair.second;
    auto r = fiber::spawn([&, &y = y] {
      char q[3];
      y.read_exact(q, 5s);
      return std::string(q, 3);
    });
    x.write_all("abc");
    EXPECT_EQ(r.join(), "abc");
  });
  // Abstract namespace socket, from plain threads.
  std::string abstract = "@weft_net_test_" + std::to_string(::getpid());
  auto l = net::unix_listener::bind(abstract);
  std::thread t([&] {
    auto s = l.accept(5s);
    s.write_all("hi");
  });
  auto c = net::unix_stream::connect(abstract, 5s);
  char b[2];
  c.read_exact(b, 5s);
  t.join();
  EXPECT_EQ(std::string(b, 2), "hi");
}

TEST(NetDns, NumericHostsNeverQuery) {
  // A server that swallows queries: if anything were sent we would time out, not succeed at once.
  net::resolve_options o{.servers = {"127.0.0.1:9"}, .timeout = 2000ms, .tries = 1};
  auto t0 = steady::now();
  auto v4 = net::resolve("127.0.0.1", "80", o);
  ASSERT_EQ(v4.size(), 1u);
  EXPECT_EQ(v4[0], net::endpoint::parse("127.0.0.1:80"));
  auto v6 = net::resolve("::1", "443", o);
  ASSERT_EQ(v6.size(), 1u);
  EXPECT_EQ(v6[0], net::endpoint::parse("[::1]:443"));
  EXPECT_LT(steady::now() - t0, 500ms);
}

TEST(NetDns, LocalhostAndEtcHosts) {
  fiber::run([] {
    auto eps = net::resolve("localhost", "8080", 5s);
    ASSERT_FALSE(eps.empty());
    bool has_v4 = false;
    for (auto& e : eps) {
      EXPECT_TRUE(e.is_loopback()) << e;
      EXPECT_EQ(e.port(), 8080);
      has_v4 = has_v4 || e == net::endpoint::parse("127.0.0.1:8080");
    }
    EXPECT_TRUE(has_v4);
    auto http = net::resolve("localhost", "http", {.family = AF_INET}, 5s);
    ASSERT_FALSE(http.empty());
    EXPECT_EQ(http[0].port(), 80);
    std::error_code ec;
    net::resolve("localhost", "no-such-service-xyz", ec, 5s);
    EXPECT_TRUE(ec) << "unknown service accepted";
  });
  // Some other name from /etc/hosts, if there is one.
  std::ifstream hosts("/etc/hosts");
  std::string line, name, addr;
  while (std::getline(hosts, line)) {
    std::istringstream is(line);
    std::string a, n;
    if (!(is >> a >> n) || a.empty() || a[0] == '#' || n == "localhost") continue;
    if (!net::endpoint::from_address(a, 0)) continue;
    name = n;
    addr = a;
    break;
  }
  if (name.empty()) GTEST_SKIP() << "no extra name in /etc/hosts";
  auto eps = net::resolve(name, "1", 5s);  // from a plain thread
  bool found = false;
  for (auto& e : eps) found = found || e.address() == addr;
  EXPECT_TRUE(found) << name << " did not resolve to " << addr;
}

namespace {
// A "name server" that receives queries and never answers.
struct swallowing_server {
  net::udp_socket sock = net::udp_socket::bind(net::endpoint::loopback_v4(0));
  std::string address() const { return sock.local_endpoint().to_string(); }
};
}  // namespace

TEST(NetDns, SilentServerTimesOutInBoundedTime) {
  swallowing_server srv;
  fiber::run([&] {
    net::resolve_options o{.servers = {srv.address()}, .timeout = 200ms, .tries = 1};
    std::error_code ec;
    auto t0 = steady::now();
    auto eps = net::resolve("nothing.weft.invalid", "80", o, ec, 10s);
    auto took = steady::now() - t0;
    EXPECT_TRUE(eps.empty());
    EXPECT_EQ(ec, net::dns_errc::timeout) << ec.message();
    EXPECT_EQ(ec, std::errc::timed_out);  // the DNS timeout also reads as a timeout
    EXPECT_EQ(ec.category().name(), std::string("weft.dns"));
    EXPECT_NE(ec.message().find("timeout"), std::string::npos);
    EXPECT_LT(took, 3s);
    // The silent server did receive the query (it went through our sockets).
    char buf[512];
    net::endpoint from;
    EXPECT_GT(srv.sock.recv_from(buf, from, 1s), 12u);
    // Throwing form.
    EXPECT_THROW(net::resolve("nothing.weft.invalid", "80", o), std::system_error);
  });
  // Our own deadline shorter than c-ares' timeout, from a plain thread.
  net::resolve_options slow{.servers = {srv.address()}, .timeout = 5000ms, .tries = 1};
  std::error_code ec;
  auto t0 = steady::now();
  net::resolve("nothing.weft.invalid", "80", slow, ec, 100ms);
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_LT(steady::now() - t0, 2s);
}

TEST(NetDns, StopRequestCancelsResolve) {
  swallowing_server srv;
  fiber::run([&] {
    auto h = fiber::spawn([&] {
      net::resolve_options o{.servers = {srv.address()}, .timeout = 5000ms, .tries = 2};
      std::error_code ec;
      net::resolve("nothing.weft.invalid", "80", o, ec);
      return ec;
    });
    fiber::this_fiber::sleep_for(50ms);
    auto t0 = steady::now();
    h.request_stop();
    EXPECT_EQ(h.join(), std::errc::operation_canceled);
    EXPECT_LT(steady::now() - t0, 2s);
  });
}

TEST(NetDns, BadNames) {
  std::error_code ec;
  net::resolve("", "80", ec);
  EXPECT_EQ(ec, net::dns_errc::bad_name);
  net::resolve("::1", "80", {.family = AF_INET}, ec);
  EXPECT_TRUE(ec);
  EXPECT_EQ(net::make_error_code(net::dns_errc::not_found).message(), "host not found");
}

// Two fibers reading one socket at once both wait, and both get data: one edge wakes every waiter
// of a direction, and each retries its read.
TEST(NetMisc, TwoConcurrentReadersOfOneSocketBothWake) {
  fiber::runtime rt({.workers = 1});
  auto ends = net::unix_stream::pair();
  auto& a = ends.first;
  auto& b = ends.second;
  std::atomic<int> got{0};
  auto reader = [&] {
    char c;
    if (b.read_some(net::mutable_buffer(&c, 1), 5s) == 1) ++got;
  };
  auto r1 = rt.spawn(reader);
  auto r2 = rt.spawn(reader);
  rt.run([&] {
    fiber::this_fiber::sleep_for(10ms);  // both readers parked
    a.write_all(net::const_buffer("xy", 2), 5s);
  });
  r1.join();
  r2.join();
  EXPECT_EQ(got.load(), 2);
}

// End of stream stays answerable at once: a second read after EOF returns 0 again (the read hint
// must not make it park for an event that will never come).
TEST(NetMisc, ReadAfterEndOfStreamReturnsAgainAtOnce) {
  fiber::runtime rt({.workers = 1});
  auto ends = net::unix_stream::pair();
  rt.run([&] {
    char buf[16];
    ends.first.write_all(net::const_buffer("abc", 3), 5s);
    EXPECT_EQ(ends.second.read_some(buf, 5s), 3u);  // short read: the buffer is drained now
    ends.first.close();
    const auto start = steady::now();
    EXPECT_EQ(ends.second.read_some(buf, 5s), 0u);
    EXPECT_EQ(ends.second.read_some(buf, 5s), 0u);
    EXPECT_LT(steady::now() - start, 2s);
  });
}
