// metrics_server.cpp — fiber::runtime::stats() in Prometheus's text format over a fiber::net HTTP
// endpoint, beside a small workload (producers and consumers on a channel, a contended mutex,
// sleepers, an echo client and server).
//
//   ./metrics_server [port]        serve http://127.0.0.1:9464/metrics until killed (default 9464)
//                                  try: curl -s http://127.0.0.1:9464/metrics
//                                  set WEFT_LATENCY_STATS=1 for the latency histograms
//   ./metrics_server --self-test   scrape itself once, check the format, print the scrape, exit 0
#include <fiber/fiber.hpp>
#include <net/net.hpp>
#include <sync/sync.hpp>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>

namespace net = fiber::net;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------- Prometheus text format

void metric_header(std::string& o, const char* name, const char* type, const char* help) {
  o += "# HELP ";
  o += name;
  o += ' ';
  o += help;
  o += "\n# TYPE ";
  o += name;
  o += ' ';
  o += type;
  o += '\n';
}

void sample(std::string& o, const char* name, const std::string& labels, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", value);
  o += name;
  if (!labels.empty()) o += "{" + labels + "}";
  o += ' ';
  o += buf;
  o += '\n';
}

// A log2 histogram as a Prometheus histogram in seconds (cumulative buckets, +Inf, sum, count).
void histogram(std::string& o, const char* name, const std::string& labels, const fiber::latency_histogram& h) {
  std::uint64_t cumulative = 0;
  std::string base(name);
  for (std::size_t i = 0; i + 1 < fiber::latency_histogram::bucket_count; ++i) {
    cumulative += h.buckets[i];
    if (i < 9 || i > 33) continue;  // publish 1 us .. 17 s; the rest folds into neighbours/+Inf
    char le[32];
    std::snprintf(le, sizeof le, "%g", static_cast<double>(fiber::latency_histogram::upper_bound_ns(i)) / 1e9);
    sample(o, (base + "_bucket").c_str(), labels + ",le=\"" + le + "\"", static_cast<double>(cumulative));
  }
  sample(o, (base + "_bucket").c_str(), labels + ",le=\"+Inf\"", static_cast<double>(h.count));
  sample(o, (base + "_sum").c_str(), labels, static_cast<double>(h.sum_ns) / 1e9);
  sample(o, (base + "_count").c_str(), labels, static_cast<double>(h.count));
}

std::string prometheus_text(const fiber::runtime_stats& s) {
  std::string o;
  metric_header(o, "weft_fibers", "gauge", "Live fibers by state.");
  sample(o, "weft_fibers", "state=\"running\"", static_cast<double>(s.running));
  sample(o, "weft_fibers", "state=\"runnable\"", static_cast<double>(s.runnable));
  sample(o, "weft_fibers", "state=\"parked\"", static_cast<double>(s.parked));
  metric_header(o, "weft_blocking_threads", "gauge", "fiber::blocking offload threads (busy: running a job).");
  sample(o, "weft_blocking_threads", "state=\"busy\"", static_cast<double>(s.blocking_busy));
  sample(o, "weft_blocking_threads", "state=\"idle\"", static_cast<double>(s.blocking_threads - s.blocking_busy));
  metric_header(o, "weft_run_queue_length", "gauge", "Runnable fibers queued on each worker.");
  for (std::size_t i = 0; i < s.workers.size(); ++i)
    sample(o, "weft_run_queue_length", "worker=\"" + std::to_string(i) + "\"",
           static_cast<double>(s.workers[i].run_queue));
  struct counter {
    const char* name;
    const char* help;
    std::uint64_t fiber::worker_stats::*field;
  };
  static constexpr counter counters[] = {
      {"weft_switches_total", "Context switches into fibers.", &fiber::worker_stats::switches},
      {"weft_steals_total", "Fibers stolen from other workers.", &fiber::worker_stats::steals},
      {"weft_parks_total", "Fibers that parked to wait.", &fiber::worker_stats::parks},
      {"weft_remote_wakeups_total", "Fibers woken from another thread.", &fiber::worker_stats::remote_wakeups},
      {"weft_polls_total", "Reactor polls.", &fiber::worker_stats::polls},
      {"weft_io_waits_total", "Socket waits of fibers.", &fiber::worker_stats::io_waits},
      {"weft_timers_total", "Timers fired.", &fiber::worker_stats::timers},
  };
  for (const auto& c : counters) {
    metric_header(o, c.name, "counter", c.help);
    for (std::size_t i = 0; i < s.workers.size(); ++i)
      sample(o, c.name, "worker=\"" + std::to_string(i) + "\"", static_cast<double>(s.workers[i].*c.field));
  }
  if (s.latency_stats) {
    metric_header(o, "weft_run_queue_wait_seconds", "histogram", "Time a runnable fiber waited for its worker.");
    for (std::size_t i = 0; i < s.workers.size(); ++i)
      histogram(o, "weft_run_queue_wait_seconds", "worker=\"" + std::to_string(i) + "\"", s.workers[i].run_queue_wait);
    metric_header(o, "weft_wake_to_run_seconds", "histogram", "Reactor event to the woken fiber running.");
    for (std::size_t i = 0; i < s.workers.size(); ++i)
      histogram(o, "weft_wake_to_run_seconds", "worker=\"" + std::to_string(i) + "\"", s.workers[i].wake_to_run);
  }
  return o;
}

// ---------------------------------------------------------------- HTTP

// One request per connection (the response says Connection: close; scrapers reconnect).
void serve(net::tcp_stream conn) {
  std::string request;
  char buf[2048];
  std::error_code ec;
  while (request.find("\r\n\r\n") == std::string::npos) {
    const auto n = conn.read_some(buf, ec, 10s);
    if (ec || n == 0 || request.size() > 16 * 1024) return;
    request.append(buf, n);
  }
  const bool metrics = request.rfind("GET /metrics ", 0) == 0;
  const std::string body = metrics ? prometheus_text(fiber::default_runtime().stats()) : "see /metrics\n";
  const std::string head = metrics ? "HTTP/1.1 200 OK" : "HTTP/1.1 404 Not Found";
  conn.write_all(head + "\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body,
                 ec, 10s);
}

// ---------------------------------------------------------------- the workload

struct workload {
  std::atomic<bool> stop{false};
  fiber::channel<int> jobs{16};
  fiber::mutex m;
  long counter = 0;
  fiber::wait_group wg;

  void start() {
    for (int p = 0; p < 4; ++p)
      go("producer-" + std::to_string(p), [this] {
        for (int i = 0; !stop; ++i) {
          if (jobs.send_for(i, 50ms) == fiber::channel_status::closed) return;
          fiber::this_fiber::sleep_for(200us);
        }
      });
    for (int c = 0; c < 4; ++c)
      go("consumer-" + std::to_string(c), [this] {
        while (!stop)
          if (auto v = jobs.recv_for(50ms)) {
            std::lock_guard g(m);  // contended: four consumers
            counter += *v;
          }
      });
    for (int s = 0; s < 8; ++s)
      go("sleeper-" + std::to_string(s), [this] {
        while (!stop) fiber::this_fiber::sleep_for(10ms);
      });
    go("echo", [this] {
      auto l = net::tcp_listener::bind("127.0.0.1:0");
      auto server = fiber::spawn({.name = "echo-server"}, [&] {
        std::error_code ec;
        auto s = l.accept(ec);
        char b[64];
        while (auto n = s.read_some(b, ec, 1s)) s.write_all(net::const_buffer(b, n), ec);
      });
      auto c = net::tcp_stream::connect(l.local_endpoint());
      char b = 'x';
      std::error_code ec;
      while (!stop && !ec) {
        c.write_all(net::const_buffer(&b, 1), ec);
        (void)c.read_exact(net::mutable_buffer(&b, 1), ec);
        fiber::this_fiber::sleep_for(1ms);
      }
      c.close();
      server.join();
    });
  }
  template <class F>
  void go(std::string name, F f) {
    wg.add(1);
    fiber::spawn({.name = std::move(name)}, [this, f] {
      f();
      wg.done();
    }).detach();
  }
  void finish() {
    stop = true;
    wg.wait();
  }
};

void accept_loop(net::tcp_listener& listener) {
  std::error_code ec;
  while (ec != std::errc::bad_file_descriptor) {  // until the listener is closed
    auto conn = listener.accept(ec);
    if (!ec) fiber::spawn({.name = "http-conn"}, serve, std::move(conn)).detach();
  }
}

int self_test() {
  workload w;
  w.start();
  return fiber::run([&] {
    auto listener = net::tcp_listener::bind("127.0.0.1:0");
    auto server = fiber::spawn({.name = "http-accept"}, [&] { accept_loop(listener); });
    fiber::this_fiber::sleep_for(300ms);  // let the workload run
    auto c = net::tcp_stream::connect(listener.local_endpoint(), 5s);
    c.write_all("GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 5s);
    std::string resp;
    char buf[4096];
    while (auto n = c.read_some(buf, 5s)) resp.append(buf, n);
    listener.close();
    server.join();
    w.finish();
    const auto body = resp.substr(resp.find("\r\n\r\n") + 4);
    std::cout << body;
    const bool ok = resp.rfind("HTTP/1.1 200 OK", 0) == 0 &&
                    body.find("# TYPE weft_fibers gauge") != std::string::npos &&
                    body.find("weft_switches_total{worker=\"0\"}") != std::string::npos &&
                    body.find("weft_fibers{state=\"parked\"}") != std::string::npos;
    std::cout << "metrics self-test: " << (ok ? "ok" : "FAILED") << "\n";
    return ok ? 0 : 1;
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--self-test") == 0) return self_test();
  const int port = argc > 1 ? std::atoi(argv[1]) : 9464;
  workload w;
  w.start();
  return fiber::run([port] {
    auto listener = net::tcp_listener::bind(net::endpoint::any_v4(static_cast<std::uint16_t>(port)));
    std::cout << "metrics on http://" << listener.local_endpoint() << "/metrics\n" << std::flush;
    accept_loop(listener);
    return 0;
  });
}
