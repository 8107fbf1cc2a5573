// demo.cpp — the headline demo: fibers versus threads (and Boost.Fiber and Go goroutines) at growing
// task counts. The Go side (bench/go/demo.go) is built with `go build` when Go is installed.
//
//   ./build/bench/demo            # full sweep: 100 .. 1,000,000 tasks, 3 runs per point (~5-10 min)
//   ./build/bench/demo --quick    # 100 .. 10,000 tasks, 1 run per point (~1 min; CI smoke test)
//
// For each runtime and count, a fresh child process (so memory readings do not mix) creates N
// tasks that all block on one gate, measures creation time and resident memory per blocked task,
// opens the gate and joins them all. Prints one table per measure with weft's ratio against each
// peer, writes bench/results/demo.csv and, when gnuplot is installed, PNG plots beside it.
// A runtime that cannot reach a count (threads hit the process limit near 32k here) is shown as
// "failed: <reason>" instead of hiding the row.
#include <fiber/fiber.hpp>
#include <fiber/detail/park.hpp>

#include <boost/fiber/all.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;

long rss_bytes() {
  long total = 0, resident = 0;
  std::ifstream in("/proc/self/statm");
  in >> total >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

struct point_result {
  bool ok = true;
  std::string error;
  double create_ns = 0, join_ns = 0, rss_per_task = 0;
};

// ---- one point, in a child process -----------------------------------------------------------

point_result run_weft(long n) {
  point_result r;
  struct gate {
    std::mutex mu;
    bool open = false;
    long parked = 0;
    std::vector<fiber::detail::park_token> waiters;
  } g;
  std::vector<fiber::join_handle<void>> hs;
  hs.reserve(static_cast<std::size_t>(n));
  fiber::runtime rt;
  rt.run([] {});  // workers started: their start-up is not part of the measure
  const long before = rss_bytes();
  auto t0 = steady::now();
  rt.run([&] {
    for (long i = 0; i < n; ++i)
      hs.push_back(fiber::spawn([&g] {
        std::unique_lock lk(g.mu);
        ++g.parked;
        if (g.open) return;
        auto t = fiber::detail::prepare_park();
        g.waiters.push_back(t);
        lk.unlock();
        fiber::detail::park(t);
      }));
  });
  for (;;) {
    {
      std::lock_guard lk(g.mu);
      if (g.parked == n) break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  auto t1 = steady::now();
  r.rss_per_task = static_cast<double>(rss_bytes() - before) / static_cast<double>(n);
  std::vector<fiber::detail::park_token> all;
  {
    std::lock_guard lk(g.mu);
    g.open = true;
    all.swap(g.waiters);
  }
  for (auto& t : all) fiber::detail::unpark(t);
  for (auto& h : hs) h.join();
  auto t2 = steady::now();
  r.create_ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(n);
  r.join_ns = std::chrono::duration<double, std::nano>(t2 - t1).count() / static_cast<double>(n);
  return r;
}

// Threads the system can still create without starving other processes of PIDs: every thread
// takes one from kernel.pid_max (32,768 here) and kernel.threads-max.
long thread_headroom() {
  auto read_long = [](const char* path, long fallback) {
    std::ifstream in(path);
    long v = fallback;
    in >> v;
    return v;
  };
  long limit = std::min(read_long("/proc/sys/kernel/pid_max", 32768), read_long("/proc/sys/kernel/threads-max", 32768));
  std::ifstream loadavg("/proc/loadavg");  // "0.1 0.2 0.3 running/total lastpid"
  std::string a, b, c, tasks;
  loadavg >> a >> b >> c >> tasks;
  long in_use = std::atol(tasks.substr(tasks.find('/') + 1).c_str());
  return limit - in_use - 1000;  // leave room for the rest of the machine
}

point_result run_threads(long n) {
  point_result r;
  std::mutex mu;
  std::condition_variable gate, arrivals;  // two: a notify_all per arrival would be quadratic
  bool open = false;
  long parked = 0;
  std::vector<std::thread> ts;
  ts.reserve(static_cast<std::size_t>(n));
  const long headroom = thread_headroom();
  const long before = rss_bytes();
  auto t0 = steady::now();
  try {
    for (long i = 0; i < n; ++i) {
      if (i >= headroom) {
        r.ok = false;
        char buf[200];
        std::snprintf(buf, sizeof buf, "failed: process/thread limit (pid_max) reached at %ld threads", i);
        r.error = buf;
        break;
      }
      ts.emplace_back([&] {
        std::unique_lock lk(mu);
        ++parked;
        arrivals.notify_one();
        gate.wait(lk, [&] { return open; });
      });
    }
  } catch (const std::system_error& e) {
    r.ok = false;
    char buf[160];
    std::snprintf(buf, sizeof buf, "failed: %s at %zu threads", std::strerror(e.code().value()), ts.size());
    r.error = buf;
  }
  {
    std::unique_lock lk(mu);
    arrivals.wait(lk, [&] { return parked == static_cast<long>(ts.size()); });
  }
  auto t1 = steady::now();
  r.rss_per_task = static_cast<double>(rss_bytes() - before) / static_cast<double>(std::max<std::size_t>(1, ts.size()));
  {
    std::lock_guard lk(mu);
    open = true;
  }
  gate.notify_all();
  for (auto& t : ts) t.join();
  auto t2 = steady::now();
  r.create_ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(n);
  r.join_ns = std::chrono::duration<double, std::nano>(t2 - t1).count() / static_cast<double>(n);
  return r;
}

point_result run_boost_fiber(long n) {
  point_result r;
  boost::fibers::mutex mu;
  boost::fibers::condition_variable cv;
  bool open = false;
  std::vector<boost::fibers::fiber> fs;
  fs.reserve(static_cast<std::size_t>(n));
  const long before = rss_bytes();
  auto t0 = steady::now();
  boost::fibers::fixedsize_stack stacks(64 * 1024);
  for (long i = 0; i < n; ++i)
    fs.emplace_back(std::allocator_arg, stacks, [&] {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return open; });
    });
  boost::this_fiber::yield();  // let all of them start and block (one thread: round-robin)
  auto t1 = steady::now();
  r.rss_per_task = static_cast<double>(rss_bytes() - before) / static_cast<double>(n);
  {
    std::lock_guard lk(mu);
    open = true;
  }
  cv.notify_all();
  for (auto& f : fs) f.join();
  auto t2 = steady::now();
  r.create_ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(n);
  r.join_ns = std::chrono::duration<double, std::nano>(t2 - t1).count() / static_cast<double>(n);
  return r;
}

// ---- switch cost: two tasks handing control back and forth, ns per hand-off ----------------------

double switch_ns(const std::string& runtime) {
  const long rounds = runtime == "threads" ? 50'000 : 2'000'000;
  auto t0 = steady::now();
  if (runtime == "weft") {
    fiber::runtime rt({.workers = 1});
    rt.run([rounds] {
      auto other = fiber::spawn([rounds] {
        for (long i = 0; i < rounds; ++i) fiber::this_fiber::yield();
      });
      for (long i = 0; i < rounds; ++i) fiber::this_fiber::yield();
      other.join();
    });
  } else if (runtime == "boost.fiber") {
    boost::fibers::fiber other([rounds] {
      for (long i = 0; i < rounds; ++i) boost::this_fiber::yield();
    });
    for (long i = 0; i < rounds; ++i) boost::this_fiber::yield();
    other.join();
  } else {
    std::mutex mu;
    std::condition_variable cv;
    long turn = 0;
    std::thread other([&] {
      for (long i = 0; i < rounds; ++i) {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return turn % 2 == 1; });
        ++turn;
        cv.notify_one();
      }
    });
    for (long i = 0; i < rounds; ++i) {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return turn % 2 == 0; });
      ++turn;
      cv.notify_one();
    }
    other.join();
  }
  return std::chrono::duration<double, std::nano>(steady::now() - t0).count() / static_cast<double>(2 * rounds);
}

int child_main(const std::string& runtime, long n) {
  if (n == 0) {
    std::printf("1 %.1f 0 0\n", switch_ns(runtime));
    return 0;
  }
  point_result r = runtime == "weft" ? run_weft(n) : runtime == "threads" ? run_threads(n) : run_boost_fiber(n);
  std::printf("%d %.1f %.1f %.1f %s\n", r.ok ? 1 : 0, r.create_ns, r.join_ns, r.rss_per_task, r.error.c_str());
  return 0;
}

// ---- the driver ------------------------------------------------------------------------------

struct summary {
  bool ok = true;
  std::string error;
  std::vector<double> create, total, rss;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Builds bench/go/demo.go with the Go toolchain when one is installed; empty when not.
std::string build_go_peer(const char* self) {
  if (std::system("command -v go >/dev/null 2>&1") != 0) return {};
  std::filesystem::path out = std::filesystem::absolute(self).parent_path() / "weft-demo-go";
  std::string cmd = "GOCACHE=/tmp/weft-go-cache GO111MODULE=off go build -o '" + out.string() + "' '" +
                    std::string(WEFT_SOURCE_DIR) + "/bench/go/demo.go' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0 ? out.string() : std::string();
}
std::string go_binary;

point_result run_point(const char* self, const std::string& runtime, long n) {
  std::string cmd = runtime == "go" ? go_binary + " point " + std::to_string(n) + " 2>&1"
                                    : std::string(self) + " --point " + runtime + " " + std::to_string(n) + " 2>&1";
  point_result r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {false, "failed: popen", 0, 0, 0};
  char line[512] = {0};
  bool got = std::fgets(line, sizeof line, p) != nullptr;
  int status = ::pclose(p);
  int ok = 0;
  char err[400] = {0};
  if (!got || std::sscanf(line, "%d %lf %lf %lf %399[^\n]", &ok, &r.create_ns, &r.join_ns, &r.rss_per_task, err) < 4 ||
      status != 0) {
    r.ok = false;
    r.error = std::string("failed: child exited (") + (got ? line : "no output") + ")";
    if (!r.error.empty() && r.error.back() == '\n') r.error.pop_back();
    return r;
  }
  r.ok = ok == 1;
  r.error = err;
  return r;
}

std::string cell(const summary& s, const std::vector<double>& v, const char* fmt) {
  if (!s.ok) return s.error;
  char buf[96];
  std::snprintf(buf, sizeof buf, fmt, median(v), *std::min_element(v.begin(), v.end()),
                *std::max_element(v.begin(), v.end()));
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 4 && std::string(argv[1]) == "--point") return child_main(argv[2], std::atol(argv[3]));
  const bool quick = argc >= 2 && std::string(argv[1]) == "--quick";
  const std::vector<long> counts =
      quick ? std::vector<long>{100, 1'000, 10'000} : std::vector<long>{100, 1'000, 10'000, 100'000, 1'000'000};
  const int runs = quick ? 1 : 3;
  go_binary = build_go_peer(argv[0]);
  if (go_binary.empty())
    std::fprintf(stderr, "Go not found (bash scripts/install-deps.sh --demo installs golang-go): no Go column\n");
  const std::vector<std::string> runtimes{"weft", "threads", "boost.fiber", "go"};
  std::map<std::pair<std::string, long>, summary> results;
  const auto start = steady::now();
  for (long n : counts) {
    for (const auto& rt : runtimes) {
      summary& s = results[{rt, n}];
      for (int i = 0; i < runs && s.ok; ++i) {
        double elapsed = std::chrono::duration<double>(steady::now() - start).count();
        std::fprintf(stderr, "\r[%6.1f s] %-12s %9ld tasks, run %d/%d ...        ", elapsed, rt.c_str(), n, i + 1,
                     runs);
        if (rt == "go" && go_binary.empty()) {
          s.ok = false;
          s.error = "not run: Go not installed";
          break;
        }
        if (rt == "boost.fiber" && n > 100'000) {
          s.ok = false;
          s.error = "skipped: >100k Boost.Fiber tasks take minutes here";
          break;
        }
        point_result r = run_point(argv[0], rt, n);
        if (!r.ok) {
          s.ok = false;
          s.error = r.error;
          break;
        }
        s.create.push_back(r.create_ns);
        s.total.push_back(r.create_ns + r.join_ns);
        s.rss.push_back(r.rss_per_task);
      }
    }
  }
  std::map<std::string, std::vector<double>> switches;
  for (const auto& rt : runtimes) {
    if (rt == "go" && go_binary.empty()) continue;
    for (int i = 0; i < runs; ++i) {
      std::fprintf(stderr, "\r[%6.1f s] %-12s switch cost, run %d/%d ...        ",
                   std::chrono::duration<double>(steady::now() - start).count(), rt.c_str(), i + 1, runs);
      point_result r = run_point(argv[0], rt, 0);
      if (r.ok) switches[rt].push_back(r.create_ns);
    }
  }
  std::fprintf(stderr, "\r%80s\r", "");

  auto table = [&](const char* title, std::vector<double> summary::*field, const char* fmt) {
    std::printf("\n%s (median [min-max] of %d run%s)\n", title, runs, runs > 1 ? "s" : "");
    std::printf(
        "| tasks | weft | std::thread | Boost.Fiber | Go | threads/weft | Boost.Fiber/weft | Go/weft |\n"
        "|---|---|---|---|---|---|---|---|\n");
    for (long n : counts) {
      const summary& w = results[{"weft", n}];
      const summary& t = results[{"threads", n}];
      const summary& b = results[{"boost.fiber", n}];
      const summary& g = results[{"go", n}];
      auto ratio = [&](const summary& peer) -> std::string {
        if (!w.ok || !peer.ok) return "-";
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.1fx", median(peer.*field) / std::max(1e-9, median(w.*field)));
        return buf;
      };
      std::printf("| %ld | %s | %s | %s | %s | %s | %s | %s |\n", n, cell(w, w.*field, fmt).c_str(),
                  cell(t, t.*field, fmt).c_str(), cell(b, b.*field, fmt).c_str(), cell(g, g.*field, fmt).c_str(),
                  ratio(t).c_str(), ratio(b).c_str(), ratio(g).c_str());
    }
  };
  table("Creation + join time per task, ns", &summary::total, "%.0f [%.0f-%.0f]");
  table("Resident memory per blocked task, bytes", &summary::rss, "%.0f [%.0f-%.0f]");
  std::printf("\nSwitch cost: two tasks handing control back and forth (weft on 1 worker), ns per hand-off\n");
  std::printf(
      "| weft | std::thread (condition_variable) | Boost.Fiber | Go (Gosched) | threads/weft | Boost.Fiber/weft | "
      "Go/weft |\n"
      "|---|---|---|---|---|---|---|\n");
  {
    double w = median(switches["weft"]), t = median(switches["threads"]), b = median(switches["boost.fiber"]);
    double g = median(switches["go"]);
    auto go_cell = [&](double v, const char* fmt) {
      char buf[32];
      if (switches["go"].empty()) return std::string("-");
      std::snprintf(buf, sizeof buf, fmt, v);
      return std::string(buf);
    };
    std::printf("| %.1f | %.1f | %.1f | %s | %.0fx | %.1fx | %s |\n", w, t, b, go_cell(g, "%.1f").c_str(),
                t / std::max(w, 1e-9), b / std::max(w, 1e-9), go_cell(g / std::max(w, 1e-9), "%.1fx").c_str());
  }

  // Echo over TCP from the net benchmark (a separate server process per runtime, client pinned to
  // the other core): messages/s and p99 per connection count.
  const auto echo_bin = std::filesystem::absolute(argv[0]).parent_path() / "echo_bench";
  if (std::filesystem::exists(echo_bin)) {
    std::printf("\nTCP echo ping-pong, 64-byte messages (bench/net_echo.sh; weft ÷ epoll is the figure of merit)\n");
    std::fflush(stdout);
    std::string cmd = "bash '" + std::string(WEFT_SOURCE_DIR) + "/bench/net_echo.sh' '" + echo_bin.string() +
                      (quick ? "' 1 100" : "' 3 100 1000 10000");
    if (std::system(cmd.c_str()) != 0) std::printf("(echo benchmark failed)\n");
  }

  std::filesystem::path dir = std::filesystem::path("bench") / "results";
  std::filesystem::create_directories(dir);
  {
    std::ofstream csv(dir / "demo.csv");
    csv << "runtime,tasks,ok,create_join_ns_median,rss_bytes_per_task_median,error\n";
    for (const auto& [key, s] : results)
      csv << key.first << ',' << key.second << ',' << (s.ok ? 1 : 0) << ',' << (s.ok ? median(s.total) : 0) << ','
          << (s.ok ? median(s.rss) : 0) << ",\"" << s.error << "\"\n";
  }
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    for (const auto& rt : runtimes) {
      std::ofstream dat(dir / (rt + ".dat"));
      for (long n : counts) {
        const summary& s = results[{rt, n}];
        if (s.ok) dat << n << ' ' << median(s.total) << ' ' << median(s.rss) << '\n';
      }
    }
    std::ofstream gp(dir / "demo.gp");
    gp << "set terminal png size 900,520\nset logscale xy\nset key left top\nset grid\n"
          "set xlabel 'concurrent tasks'\n"
          "set output '"
       << (dir / "create_join.png").string()
       << "'\nset ylabel 'ns per task (create + join)'\n"
          "plot '"
       << (dir / "weft.dat").string() << "' using 1:2 with linespoints title 'weft fibers', '"
       << (dir / "threads.dat").string() << "' using 1:2 with linespoints title 'std::thread', '"
       << (dir / "boost.fiber.dat").string() << "' using 1:2 with linespoints title 'Boost.Fiber', '"
       << (dir / "go.dat").string()
       << "' using 1:2 with linespoints title 'Go goroutines'\n"
          "set output '"
       << (dir / "memory.png").string()
       << "'\nset ylabel 'resident bytes per blocked task'\n"
          "plot '"
       << (dir / "weft.dat").string() << "' using 1:3 with linespoints title 'weft fibers', '"
       << (dir / "threads.dat").string() << "' using 1:3 with linespoints title 'std::thread', '"
       << (dir / "boost.fiber.dat").string() << "' using 1:3 with linespoints title 'Boost.Fiber', '"
       << (dir / "go.dat").string() << "' using 1:3 with linespoints title 'Go goroutines'\n";
    gp.close();
    if (std::system(("gnuplot " + (dir / "demo.gp").string()).c_str()) == 0)
      std::printf("\nplots: %s, %s\n", (dir / "create_join.png").c_str(), (dir / "memory.png").c_str());
  }
  std::printf("raw data: %s\n", (dir / "demo.csv").c_str());
  std::printf("total time: %.0f s\n", std::chrono::duration<double>(steady::now() - start).count());
  return 0;
}
