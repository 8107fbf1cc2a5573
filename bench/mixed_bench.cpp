// mixed_bench — the thread-style program of bench/mixed_program.hpp on std::thread and on fiber::.
//
//   ./build/bench/mixed_bench                          # 1k, 10k, 30k workers, std and fiber, 1 run each
//   ./build/bench/mixed_bench --counts 5000,7000,8000 --only fiber --runs 3
//   ./build/bench/mixed_bench --reduced                # transfers + semaphore only
//   options: --counts a,b,c  --runs R  --timeout S (default 120)  --only std|fiber  --reduced
//            --workers W (fiber runtime workers; default: one per usable CPU)
//            --transfers T (20)  --phases P (3)  --seed X (1)  --progress S (child prints its
//            counters to stderr every S seconds)  --std-stack-kib K (RLIMIT_STACK for the std
//            child: glibc sizes thread stacks from it; default: inherited, 8 MiB here)
//
// Every point runs in a fresh child process (fork + exec of this binary with --child), which
// prints one result line; a child that does not finish within --timeout is killed (SIGKILL) and
// reported as "timeout" with the CPU time it had used. std::thread needs one OS thread per worker
// and per consumer (workers / 10): a count beyond what pid_max / threads-max leave free is reported
// as "cannot start" without trying (so other processes on the machine are not starved of PIDs).
// Columns: wall time (creation of the first thread .. all joined), wall time per worker, CPU
// time (user + system) of the run, and fiber wall ÷ std wall.
#include "mixed_program.hpp"

#include <fiber/fiber.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;

struct options {
  std::vector<long> counts{1'000, 10'000, 30'000};
  int runs = 1;
  double timeout_s = 120;
  std::string only;
  bool reduced = false;
  unsigned workers = 0;
  int transfers = 20;
  int phases = 3;
  unsigned long long seed = 1;
  int progress_s = 0;
  long std_stack_kib = 0;
};

double cpu_seconds_self() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// ---- child: one run, one line on stdout ----------------------------------------------------------
// "RESULT <started 0/1> <ok 0/1> <wall_s> <cpu_s> <message>"

template <class N>
int child_run(const options& o, long n) {
  weft_mixed::mixed_config cfg;
  cfg.workers = n;
  cfg.transfers = o.transfers;
  cfg.phases = o.phases;
  cfg.seed = o.seed;
  cfg.reduced = o.reduced;
  weft_mixed::mixed_progress progress;
  std::atomic<bool> finished{false};
  std::thread monitor;
  if (o.progress_s > 0)
    monitor = std::thread([&] {
      auto next = steady::now() + std::chrono::seconds(o.progress_s);
      const auto t0 = steady::now();
      while (!finished.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (steady::now() < next) continue;
        next += std::chrono::seconds(o.progress_s);
        std::fprintf(stderr, "[%s %ld, %.0f s, cpu %.1f s] %s\n", N::name, n,
                     std::chrono::duration<double>(steady::now() - t0).count(), cpu_seconds_self(),
                     progress.describe(cfg).c_str());
      }
    });
  const double cpu0 = cpu_seconds_self();
  weft_mixed::mixed_result r = weft_mixed::run_mixed_program<N>(cfg, &progress);
  const double cpu = cpu_seconds_self() - cpu0;
  finished.store(true);
  if (monitor.joinable()) monitor.join();
  std::string msg = r.error.empty() ? "-" : r.error;
  for (char& c : msg)
    if (c == '\n') c = ' ';
  std::printf("RESULT %d %d %.6f %.6f %s\n", r.started ? 1 : 0, r.ok ? 1 : 0, r.wall_s, cpu, msg.c_str());
  std::fflush(stdout);
  return 0;
}

int child_main(const options& o, const std::string& kind, long n) {
  if (kind == "std") return child_run<weft_mixed::std_names>(o, n);
  fiber::runtime rt({.workers = o.workers});
  rt.run([] {});  // workers started before the clock runs
  return child_run<weft_mixed::fiber_names>(o, n);
}

// ---- parent ----------------------------------------------------------------------------------------

struct point {
  enum { ok, invalid, cannot_start, timeout, crashed } status = crashed;
  double wall_s = 0, cpu_s = 0;
  std::string message;
};

std::vector<std::string> child_args(const options& o, const std::string& kind, long n) {
  std::vector<std::string> a{"mixed_bench", "--child", kind, std::to_string(n)};
  for (auto [flag, value] : {std::pair<const char*, std::string>{"--transfers", std::to_string(o.transfers)},
                             {"--phases", std::to_string(o.phases)},
                             {"--seed", std::to_string(o.seed)},
                             {"--workers", std::to_string(o.workers)},
                             {"--progress", std::to_string(o.progress_s)}}) {
    a.push_back(flag);
    a.push_back(value);
  }
  if (o.reduced) a.push_back("--reduced");
  return a;
}

// This binary's real path: exec'ing "/proc/self/exe" itself would name the child "exe" in ps/perf.
const std::string& self_path() {
  static const std::string path = [] {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("/proc/self/exe");
  }();
  return path;
}

point run_point(const options& o, const std::string& kind, long n) {
  point pt;
  int fds[2];
  if (::pipe(fds) != 0) {
    pt.message = "pipe failed";
    return pt;
  }
  std::vector<std::string> args = child_args(o, kind, n);
  (void)self_path();  // resolved before fork
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  const auto t0 = steady::now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    pt.message = "fork failed";
    return pt;
  }
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    if (kind == "std" && o.std_stack_kib > 0) {
      rlimit rl{};
      ::getrlimit(RLIMIT_STACK, &rl);
      rl.rlim_cur = static_cast<rlim_t>(o.std_stack_kib) * 1024;
      ::setrlimit(RLIMIT_STACK, &rl);
    }
    ::execv(self_path().c_str(), argv.data());
    std::_Exit(127);
  }
  ::close(fds[1]);
  std::string out;
  bool timed_out = false;
  const auto deadline = t0 + std::chrono::duration<double>(o.timeout_s);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    char buf[4096];
    const ssize_t got = ::read(fds[0], buf, sizeof buf);
    if (got <= 0) break;  // EOF: the child exited (or closed stdout)
    out.append(buf, static_cast<std::size_t>(got));
  }
  if (timed_out) ::kill(pid, SIGKILL);
  ::close(fds[0]);
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  const double child_cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  if (timed_out) {
    pt.status = point::timeout;
    pt.wall_s = o.timeout_s;
    pt.cpu_s = child_cpu;
    char buf[128];
    std::snprintf(buf, sizeof buf, "timeout (> %.0f s, %.1f s CPU)", o.timeout_s, child_cpu);
    pt.message = buf;
    return pt;
  }
  const auto at = out.find("RESULT ");
  int started = 0, ok = 0;
  char msg[2048] = {0};
  if (at == std::string::npos ||
      std::sscanf(out.c_str() + at, "RESULT %d %d %lf %lf %2047[^\n]", &started, &ok, &pt.wall_s, &pt.cpu_s, msg) < 4) {
    char buf[160];
    if (WIFSIGNALED(status))
      std::snprintf(buf, sizeof buf, "crashed: signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
      std::snprintf(buf, sizeof buf, "crashed: exit status %d, no result", WEXITSTATUS(status));
    pt.message = buf;
    return pt;
  }
  pt.message = msg;
  pt.status = !started ? point::cannot_start : ok ? point::ok : point::invalid;
  return pt;
}

std::vector<long> parse_counts(const char* s) {
  std::vector<long> v;
  for (const char* p = s; *p;) {
    char* end = nullptr;
    long n = std::strtol(p, &end, 10);
    if (end == p) break;
    if (*end == 'k' || *end == 'K') {
      n *= 1000;
      ++end;
    }
    v.push_back(n);
    p = *end == ',' ? end + 1 : end;
  }
  return v;
}

options parse(int argc, char** argv, std::string* child_kind, long* child_n) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "mixed_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--child" && i + 2 < argc) {
      *child_kind = argv[++i];
      *child_n = std::atol(argv[++i]);
    } else if (a == "--counts")
      o.counts = parse_counts(next());
    else if (a == "--runs")
      o.runs = std::max(1, std::atoi(next()));
    else if (a == "--timeout")
      o.timeout_s = std::atof(next());
    else if (a == "--only")
      o.only = next();
    else if (a == "--reduced")
      o.reduced = true;
    else if (a == "--workers")
      o.workers = static_cast<unsigned>(std::atoi(next()));
    else if (a == "--transfers")
      o.transfers = std::atoi(next());
    else if (a == "--phases")
      o.phases = std::atoi(next());
    else if (a == "--seed")
      o.seed = std::strtoull(next(), nullptr, 10);
    else if (a == "--progress")
      o.progress_s = std::atoi(next());
    else if (a == "--std-stack-kib")
      o.std_stack_kib = std::atol(next());
    else {
      std::fprintf(stderr, "mixed_bench: unknown option %s (see the header of bench/mixed_bench.cpp)\n", a.c_str());
      std::exit(2);
    }
  }
  return o;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct summary {
  std::vector<point> runs;
  std::vector<double> of_ok(double point::*field) const {
    std::vector<double> v;
    for (auto& p : runs)
      if (p.status == point::ok) v.push_back(p.*field);
    return v;
  }
  int failed() const {
    return static_cast<int>(
        std::count_if(runs.begin(), runs.end(), [](const point& p) { return p.status != point::ok; }));
  }
  // "timeout (> 120 s, 221.0 s CPU)", "INVALID: ...", "cannot start: ..." of the first failed run.
  std::string failure() const {
    for (auto& p : runs)
      if (p.status != point::ok) return (p.status == point::invalid ? "INVALID: " : "") + p.message;
    return {};
  }
};

std::string fmt_range(const std::vector<double>& v, const char* unit, double scale = 1) {
  char buf[128];
  if (v.size() == 1) {
    std::snprintf(buf, sizeof buf, "%.3g %s", v[0] * scale, unit);
  } else {
    std::snprintf(buf, sizeof buf, "%.3g %s [%.3g-%.3g]", median(v) * scale, unit,
                  *std::min_element(v.begin(), v.end()) * scale, *std::max_element(v.begin(), v.end()) * scale);
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::string child_kind;
  long child_n = 0;
  options o = parse(argc, argv, &child_kind, &child_n);
  if (!child_kind.empty()) return child_main(o, child_kind, child_n);

  std::vector<std::string> kinds;
  if (o.only.empty() || o.only == "std") kinds.push_back("std");
  if (o.only.empty() || o.only == "fiber") kinds.push_back("fiber");
  std::printf(
      "mixed program%s: %d transfers per worker over %d phase(s), seed %llu, fiber workers %s, timeout %.0f s, %d "
      "run(s) per point\n",
      o.reduced ? " (REDUCED: transfers + semaphore only)" : "", o.transfers, o.phases, o.seed,
      o.workers ? std::to_string(o.workers).c_str() : "= usable CPUs", o.timeout_s, o.runs);
  std::fflush(stdout);
  std::map<std::pair<std::string, long>, summary> results;
  const auto start = steady::now();
  for (long n : o.counts)
    for (const auto& k : kinds) {
      summary& s = results[{k, n}];
      for (int i = 0; i < o.runs; ++i) {
        point p = run_point(o, k, n);
        std::printf("  %-5s %7ld workers run %d: %s", k.c_str(), n, i + 1,
                    p.status == point::ok || p.status == point::invalid ? "" : p.message.c_str());
        if (p.status == point::ok || p.status == point::invalid)
          std::printf("wall %.3f s, cpu %.3f s%s%s", p.wall_s, p.cpu_s, p.status == point::invalid ? ", INVALID: " : "",
                      p.status == point::invalid ? p.message.c_str() : "");
        std::printf("   [%.0f s elapsed]\n", std::chrono::duration<double>(steady::now() - start).count());
        std::fflush(stdout);
        s.runs.push_back(p);
        if (p.status == point::cannot_start) break;  // the same next time
      }
    }

  std::printf(
      "\n| workers | std::thread wall | per worker | CPU | fiber wall | per worker | CPU | fiber/std wall |\n"
      "|---|---|---|---|---|---|---|---|\n");
  for (long n : o.counts) {
    std::string cells;
    double std_wall = -1, fib_wall = -1;
    bool partial = false;
    for (const std::string k : {"std", "fiber"}) {
      auto it = results.find({k, n});
      if (it == results.end()) {
        cells += " - | - | - |";
        continue;
      }
      const summary& s = it->second;
      const std::vector<double> walls = s.of_ok(&point::wall_s), cpus = s.of_ok(&point::cpu_s);
      if (walls.empty()) {  // every run failed: say how (a timeout's CPU is what the child had used)
        const bool has_cpu = s.runs.front().status == point::timeout;
        cells += " " + s.failure() + " | - | " + (has_cpu ? fmt_range({s.runs.front().cpu_s}, "s") : std::string("-")) +
                 " |";
        continue;
      }
      std::string note;
      if (s.failed()) {
        partial = true;
        note = " (ok runs; " + std::to_string(s.failed()) + "/" + std::to_string(s.runs.size()) +
               " runs: " + s.failure() + ")";
      }
      (k == "std" ? std_wall : fib_wall) = median(walls);
      cells += " " + fmt_range(walls, "s") + note + " | " + fmt_range(walls, "us", 1e6 / static_cast<double>(n)) +
               " | " + fmt_range(cpus, "s") + " |";
    }
    char ratio[32] = "-";
    if (std_wall > 0 && fib_wall > 0)
      std::snprintf(ratio, sizeof ratio, "%.2fx%s", fib_wall / std_wall, partial ? " (ok runs only)" : "");
    std::printf("| %ld |%s %s |\n", n, cells.c_str(), ratio);
  }
  std::printf("total time: %.0f s\n", std::chrono::duration<double>(steady::now() - start).count());
  return 0;
}
