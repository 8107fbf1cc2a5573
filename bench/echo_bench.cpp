// echo_bench.cpp — TCP echo ping-pong: servers to compare and the one load client that drives them.
//
//   echo_bench --server=weft|threads|epoll [--port P]     serve until killed (port default 9000)
//   echo_bench --client [--port P] [--conns C] [--seconds S] [--size B] [--warmup W]
//
// Servers: weft = one fiber per connection (fiber::net, blocking style); threads = one std::thread
// per connection (64 KiB stacks, blocking syscalls); epoll = a hand-written single-threaded epoll
// loop (the ceiling). The client is one thread with its own epoll loop: every connection sends B
// bytes (default 64), waits for all B to come back, records the round trip, and sends again, for S
// seconds. It prints one line: conns, messages/s, p50 and p99 round-trip latency in microseconds.
// bench/net_echo.sh runs each server pinned to one core and the client pinned to another.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fiber/fiber.hpp>
#include <net/net.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace net = fiber::net;
using steady = std::chrono::steady_clock;

namespace {

int g_size = 64;
double g_warmup = 0;  // seconds of traffic before counting (steady state only)

void raise_nofile() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

int listen_raw(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || ::listen(fd, 4096) < 0) {
    std::perror("bind/listen");
    std::exit(1);
  }
  return fd;
}

// ---- servers

int serve_weft(int port) {
  return fiber::run([port] {
    std::error_code bec;
    auto l = net::tcp_listener::bind(net::endpoint::loopback_v4(static_cast<uint16_t>(port)), {.backlog = 4096}, bec);
    if (bec) {
      std::fprintf(stderr, "bind 127.0.0.1:%d: %s\n", port, bec.message().c_str());
      return 1;
    }
    std::fprintf(stderr, "weft echo server on %d (%u workers)\n", port, fiber::usable_cpus());
    for (;;) {
      std::error_code ec;
      auto c = l.accept(ec);
      if (ec) continue;
      c.set_no_delay(true, ec);
      fiber::spawn(
          {.name = "echo", .stack_size = 32 * 1024},
          [](net::tcp_stream s) {
            char buf[4096];
            std::error_code e;
            while (auto n = s.read_some(buf, e)) {
              s.write_all(net::const_buffer(buf, n), e);
              if (e) break;
            }
          },
          std::move(c));
    }
    return 0;
  });
}

void* thread_conn(void* arg) {
  int fd = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  char buf[4096];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    ssize_t off = 0;
    while (off < n) {
      auto w = ::send(fd, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
      if (w <= 0) goto done;
      off += w;
    }
  }
done:
  ::close(fd);
  return nullptr;
}

int serve_threads(int port) {
  int l = listen_raw(port);
  std::fprintf(stderr, "thread-per-connection echo server on %d\n", port);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (;;) {
    int c = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    int one = 1;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_t t;
    if (pthread_create(&t, &attr, thread_conn, reinterpret_cast<void*>(static_cast<intptr_t>(c))) != 0) ::close(c);
  }
}

int serve_epoll(int port) {
  int l = listen_raw(port);
  ::fcntl(l, F_SETFL, O_NONBLOCK);
  std::fprintf(stderr, "epoll echo server on %d\n", port);
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = l;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
  std::vector<epoll_event> evs(1024);
  char buf[4096];
  for (;;) {
    int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), -1);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == l) {
        for (;;) {
          int c = ::accept4(l, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          int one = 1;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event ce{};
          ce.events = EPOLLIN;  // level-triggered; echo replies are small enough to fit the send buffer
          ce.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        }
        continue;
      }
      auto r = ::read(fd, buf, sizeof buf);
      if (r <= 0) {
        ::close(fd);
        continue;
      }
      ::send(fd, buf, static_cast<size_t>(r), MSG_NOSIGNAL);
    }
  }
}

// ---- client

struct conn {
  int fd;
  int got = 0;
  steady::time_point sent;
};

int run_client(int port, int conns, double seconds) {
  raise_nofile();
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<conn> cs(static_cast<size_t>(conns));
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < conns; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
      std::fprintf(stderr, "connect %d: %s\n", i, std::strerror(errno));
      return 1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    cs[static_cast<size_t>(i)].fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  std::vector<char> msg(static_cast<size_t>(g_size), 'p'), buf(static_cast<size_t>(g_size));
  std::vector<uint32_t> lat_us;
  lat_us.reserve(1 << 22);
  auto start = steady::now();
  auto to_duration = [](double s) {
    return std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(s));
  };
  auto counting_from = start + to_duration(g_warmup);
  auto end = counting_from + to_duration(seconds);
  bool counting = g_warmup <= 0;
  for (auto& c : cs) {
    c.sent = start;
    ::send(c.fd, msg.data(), msg.size(), MSG_NOSIGNAL);
  }
  std::vector<epoll_event> evs(1024);
  uint64_t count = 0;
  for (;;) {
    auto now = steady::now();
    if (now >= end) break;
    if (!counting && now >= counting_from) {  // warm-up over: forget what was measured so far
      counting = true;
      count = 0;
      lat_us.clear();
      start = now;
    }
    int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 10);
    now = steady::now();
    for (int i = 0; i < n; ++i) {
      auto& c = cs[evs[i].data.u32];
      auto r = ::recv(c.fd, buf.data(), static_cast<size_t>(g_size - c.got), 0);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        std::fprintf(stderr, "connection lost\n");
        return 1;
      }
      c.got += static_cast<int>(r);
      if (c.got < g_size) continue;
      c.got = 0;
      ++count;
      lat_us.push_back(
          static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - c.sent).count()));
      c.sent = now;
      ::send(c.fd, msg.data(), msg.size(), MSG_NOSIGNAL);
    }
  }
  double secs = std::chrono::duration<double>(steady::now() - start).count();
  std::sort(lat_us.begin(), lat_us.end());
  auto pct = [&](double p) {
    return lat_us.empty() ? 0u : lat_us[static_cast<size_t>(p * static_cast<double>(lat_us.size() - 1))];
  };
  std::printf("conns=%d msgs_per_sec=%.0f p50_us=%u p99_us=%u\n", conns, static_cast<double>(count) / secs, pct(0.50),
              pct(0.99));
  for (auto& c : cs) ::close(c.fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode;
  int port = 9000, conns = 100;
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto val = [&](std::string_view key) -> const char* {
      if (a.rfind(key, 0) != 0) return nullptr;
      if (a.size() > key.size() && a[key.size()] == '=') return argv[i] + key.size() + 1;
      return i + 1 < argc ? argv[++i] : nullptr;
    };
    if (a == "--client")
      mode = "client";
    else if (auto v = val("--server"))
      mode = v;
    else if (auto v2 = val("--port"))
      port = std::atoi(v2);
    else if (auto v3 = val("--conns"))
      conns = std::atoi(v3);
    else if (auto v4 = val("--seconds"))
      seconds = std::atof(v4);
    else if (auto v6 = val("--warmup"))
      g_warmup = std::atof(v6);
    else if (auto v5 = val("--size"))
      g_size = std::max(1, std::min(4096, std::atoi(v5)));
  }
  raise_nofile();
  if (mode == "client") return run_client(port, conns, seconds);
  if (mode == "weft") return serve_weft(port);
  if (mode == "threads") return serve_threads(port);
  if (mode == "epoll") return serve_epoll(port);
  std::fprintf(stderr,
               "usage: %s --server=weft|threads|epoll [--port P] | --client [--port P] [--conns C] [--seconds S]\n",
               argv[0]);
  return 2;
}
