// backend_ops_bench.cpp — what one socket operation costs on the runtime's I/O backend, measured in
// one process on one worker, so that the comparison does not depend on another process being
// scheduled (the echo benchmark's client): CPU time per operation, from CLOCK_PROCESS_CPUTIME_ID.
// The backend is the environment's (WEFT_IO_BACKEND), io_uring's per-kind modes WEFT_IO_URING_OPS;
// bench/backend_ops.sh runs the matrix behind the decisions in docs/design.md §7.
//
//   backend_ops_bench pingpong tcp|unix PAIRS SECONDS   round trips of 64 B between fibers (each pair
//                                                        one message in flight; both ends on the worker)
//   backend_ops_bench accept SECONDS                     connect + accept + close of loopback TCP
// Prints one line: what=... ops=... cpu_s=... ops_per_cpu_s=... wall_ops_per_s=...
#include <sys/resource.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fiber/fiber.hpp>
#include <net/net.hpp>
#include <string>
#include <vector>

namespace net = fiber::net;
using steady = std::chrono::steady_clock;

namespace {

double cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void raise_nofile() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

template <class Stream>
void pingpong(std::vector<std::pair<Stream, Stream>>& pairs, double seconds, const char* what) {
  std::atomic<bool> stop{false};
  std::atomic<long> trips{0};
  std::vector<fiber::join_handle<void>> hs;
  for (auto& [a, b] : pairs) {
    hs.push_back(fiber::spawn([&b = b] {
      char buf[64];
      std::error_code ec;
      while (auto n = b.read_some(buf, ec)) {
        b.write_all(net::const_buffer(buf, n), ec);
        if (ec) break;
      }
    }));
    hs.push_back(fiber::spawn([&a = a, &stop, &trips] {
      char msg[64] = {}, buf[64];
      std::error_code ec;
      long mine = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        a.write_all(net::const_buffer(msg, sizeof msg), ec);
        if (ec || a.read_exact(net::mutable_buffer(buf, sizeof buf), ec) != sizeof buf) break;
        ++mine;
      }
      trips += mine;
      a.shutdown(net::shutdown_mode::send, ec);
    }));
  }
  fiber::this_fiber::sleep_for(std::chrono::milliseconds(200));  // warm up
  const long before = trips.load();
  const double c0 = cpu_seconds();
  const auto w0 = steady::now();
  fiber::this_fiber::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& h : hs) h.join();
  const double cpu = cpu_seconds() - c0;
  const double wall = std::chrono::duration<double>(steady::now() - w0).count();
  const long ops = trips.load() - before;
  std::printf("what=%s pairs=%zu ops=%ld cpu_s=%.3f ops_per_cpu_s=%.0f wall_ops_per_s=%.0f\n", what, pairs.size(), ops,
              cpu, static_cast<double>(ops) / cpu, static_cast<double>(ops) / wall);
}

void accept_connect(double seconds) {
  auto l = net::tcp_listener::bind(net::endpoint::loopback_v4(0), {.backlog = 4096});
  const auto ep = l.local_endpoint();
  std::atomic<bool> stop{false};
  long accepted = 0;
  auto acceptor = fiber::spawn([&] {
    std::error_code ec;
    while (!stop.load(std::memory_order_relaxed)) {
      auto s = l.accept(ec, std::chrono::milliseconds(100));
      if (!ec) ++accepted;
    }
  });
  long connected = 0;
  const double c0 = cpu_seconds();
  const auto w0 = steady::now();
  const auto until = w0 + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(seconds));
  while (steady::now() < until) {
    std::error_code ec;
    auto c = net::tcp_stream::connect(ep, ec, std::chrono::seconds(5));
    if (!ec) ++connected;
  }
  stop = true;
  acceptor.join();
  const double cpu = cpu_seconds() - c0;
  const double wall = std::chrono::duration<double>(steady::now() - w0).count();
  std::printf("what=accept ops=%ld accepted=%ld cpu_s=%.3f ops_per_cpu_s=%.0f wall_ops_per_s=%.0f\n", connected,
              accepted, cpu, static_cast<double>(connected) / cpu, static_cast<double>(connected) / wall);
}

}  // namespace

int main(int argc, char** argv) {
  raise_nofile();
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s pingpong tcp|unix PAIRS SECONDS | accept SECONDS\n", argv[0]);
    return 2;
  }
  fiber::runtime rt({.workers = 1});
  const std::string mode = argv[1];
  return rt.run([&] {
    if (mode == "pingpong" && argc >= 5) {
      const std::string kind = argv[2];
      const int pairs = std::atoi(argv[3]);
      const double secs = std::atof(argv[4]);
      if (kind == "unix") {
        std::vector<std::pair<net::unix_stream, net::unix_stream>> ps;
        for (int i = 0; i < pairs; ++i) ps.push_back(net::unix_stream::pair());
        pingpong(ps, secs, "pingpong-unix");
      } else {
        auto l = net::tcp_listener::bind(net::endpoint::loopback_v4(0), {.backlog = 4096});
        std::vector<std::pair<net::tcp_stream, net::tcp_stream>> ps;
        for (int i = 0; i < pairs; ++i) {
          auto c = net::tcp_stream::connect(l.local_endpoint(), std::chrono::seconds(5));
          auto s = l.accept(std::chrono::seconds(5));
          c.set_no_delay(true);
          s.set_no_delay(true);
          ps.emplace_back(std::move(c), std::move(s));
        }
        pingpong(ps, secs, "pingpong-tcp");
      }
      return 0;
    }
    if (mode == "accept" && argc >= 3) {
      accept_connect(std::atof(argv[2]));
      return 0;
    }
    std::fprintf(stderr, "bad arguments\n");
    return 2;
  });
}
