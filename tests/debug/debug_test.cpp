// fiber::dump / dump_json, runtime::stats and WEFT_DEADLOCK_CHECK (fiber/debug.hpp).
//
// Scenarios that end the process (deadlock reports) or need environment variables read at start-up
// run as child processes: this executable re-runs itself with --gtest_filter=DebugChild.<name> and
// the variables set, and the parent checks the child's stderr and exit status. DebugChild.* are not
// registered with ctest on their own.
#include <fiber/debug.hpp>
#include <fiber/fiber.hpp>
#include <fs/fs.hpp>
#include <net/net.hpp>
#include <sync/sync.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "test_scale.hpp"

using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------- a small JSON reader

struct json;
using json_array = std::vector<json>;
using json_object = std::map<std::string, json>;
struct json {
  std::variant<std::nullptr_t, bool, double, std::string, json_array, json_object> v;
  const json& operator[](const std::string& k) const {
    static const json none{};
    const auto* o = std::get_if<json_object>(&v);
    if (!o) return none;
    auto it = o->find(k);
    return it == o->end() ? none : it->second;
  }
  bool has(const std::string& k) const {
    const auto* o = std::get_if<json_object>(&v);
    return o && o->count(k);
  }
  std::string str() const {
    const auto* s = std::get_if<std::string>(&v);
    return s ? *s : std::string();
  }
  double num() const {
    const auto* d = std::get_if<double>(&v);
    return d ? *d : -1;
  }
  const json_array& arr() const {
    static const json_array empty;
    const auto* a = std::get_if<json_array>(&v);
    return a ? *a : empty;
  }
};

struct json_parser {
  const std::string& s;
  std::size_t i = 0;
  bool ok = true;
  void ws() {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  }
  bool eat(char c) {
    ws();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  std::string string() {
    std::string out;
    if (!eat('"')) {
      ok = false;
      return out;
    }
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\' && i + 1 < s.size()) {
        ++i;
        switch (s[i]) {
          case 'n':
            out += '\n';
            break;
          case 't':
            out += '\t';
            break;
          case 'u':
            out += '?';
            i += 4;
            break;
          default:
            out += s[i];
        }
        ++i;
      } else {
        out += s[i++];
      }
    }
    if (i >= s.size()) ok = false;
    ++i;
    return out;
  }
  json value() {
    ws();
    if (i >= s.size()) {
      ok = false;
      return {};
    }
    const char c = s[i];
    if (c == '{') {
      ++i;
      json_object o;
      if (eat('}')) return {o};
      do {
        std::string k = string();
        if (!eat(':')) ok = false;
        o[k] = value();
      } while (ok && eat(','));
      if (!eat('}')) ok = false;
      return {o};
    }
    if (c == '[') {
      ++i;
      json_array a;
      if (eat(']')) return {a};
      do a.push_back(value());
      while (ok && eat(','));
      if (!eat(']')) ok = false;
      return {a};
    }
    if (c == '"') return {string()};
    if (s.compare(i, 4, "true") == 0) return i += 4, json{true};
    if (s.compare(i, 5, "false") == 0) return i += 5, json{false};
    if (s.compare(i, 4, "null") == 0) return i += 4, json{nullptr};
    char* end = nullptr;
    const double d = std::strtod(s.c_str() + i, &end);
    if (end == s.c_str() + i) {
      ok = false;
      return {};
    }
    i = static_cast<std::size_t>(end - s.c_str());
    return {d};
  }
};

bool parse_json(const std::string& text, json& out) {
  json_parser p{text};
  out = p.value();
  p.ws();
  return p.ok && p.i == text.size();
}

// ---------------------------------------------------------------- helpers

template <class F>
std::string capture(F&& f) {
  std::FILE* tmp = std::tmpfile();
  f(tmp);
  std::fflush(tmp);
  std::rewind(tmp);
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, tmp)) out.append(buf, n);
  std::fclose(tmp);
  return out;
}

// The text block of one fiber ("fiber N 'name' [...]" up to the next blank line).
std::string block_of(const std::string& dump, const std::string& name) {
  const auto at = dump.find("'" + name + "' [");
  if (at == std::string::npos) return {};
  const auto start = dump.rfind('\n', at);
  const auto end = dump.find("\n\n", at);
  return dump.substr(start == std::string::npos ? 0 : start + 1,
                     end == std::string::npos ? std::string::npos : end - start);
}

const json* fiber_named(const json& doc, const std::string& name) {
  for (const json& f : doc.arr())
    if (f["name"].str() == name) return &f;
  return nullptr;
}

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds limit = 5000ms) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (p()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return p();
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

struct child_result {
  int status = -1;  // exit status, or 128 + signal
  std::string output;
};

// Runs DebugChild.<test> in a child process with `env` ("A=1 B=2"), stderr and stdout captured.
child_result run_child(const std::string& test, const std::string& env, int timeout_s = 60) {
  const std::string cmd = "env " + env + " timeout " + std::to_string(timeout_s) + " " + self_exe() +
                          " --gtest_filter=DebugChild." + test + " --gtest_also_run_disabled_tests 2>&1";
  child_result r;
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

bool in_child() {
  return std::getenv("WEFT_DEBUG_TEST_CHILD") != nullptr;
}

}  // namespace

// ---------------------------------------------------------------- every wait reason

TEST(Dump, EachWaitReasonInTextAndJson) {
  fiber::runtime rt({.workers = 2});
  std::atomic<int> ready{0};
  fiber::mutex m;
  fiber::timed_mutex tm;
  fiber::shared_mutex sm;
  fiber::condition_variable cv;
  fiber::mutex cv_m;
  fiber::counting_semaphore<> sem(0);
  fiber::latch lat(1), release(1);
  fiber::barrier bar(2);
  fiber::wait_group wg;
  wg.add(1);
  fiber::promise<int> prom;
  fiber::shared_future<int> fut = prom.get_future().share();
  fiber::channel<int> full(1), empty(4), sel_a, sel_b;
  full.send(1);
  std::atomic<bool> blocking_go{false};

  auto listener = fiber::net::tcp_listener::bind("127.0.0.1:0");
  const auto port = listener.local_endpoint().port();
  std::vector<fiber::join_handle<void>> hs;
  hs.reserve(32);
  std::map<std::string, std::size_t> at;
  auto spawn = [&](const char* name, auto f) {
    at[name] = hs.size();
    hs.push_back(fiber::spawn({.name = name}, f));
  };

  spawn("holder", [&] {
    std::scoped_lock g(m, tm);
    sm.lock();
    ++ready;
    release.wait();
    sm.unlock();
  });
  ASSERT_TRUE(eventually([&] { return ready == 1; }));
  spawn("mutex-waiter", [&] { std::lock_guard g(m); });
  spawn("timed-waiter", [&] {
    if (tm.try_lock_for(30s)) tm.unlock();
  });
  spawn("writer-waiter", [&] { std::unique_lock g(sm); });
  spawn("reader-waiter", [&] { std::shared_lock g(sm); });
  spawn("cv-waiter", [&] {
    std::unique_lock lk(cv_m);
    cv.wait(lk, [&] { return release.try_wait(); });
  });
  spawn("sem-waiter", [&] { sem.acquire(); });
  spawn("latch-waiter", [&] { lat.wait(); });
  spawn("barrier-waiter", [&] { bar.arrive_and_wait(); });
  spawn("wg-waiter", [&] { wg.wait(); });
  spawn("future-waiter", [&] { (void)fut.get(); });
  spawn("sender", [&] { full.send(2); });
  spawn("receiver", [&] { (void)empty.recv(); });
  spawn("selector", [&] { fiber::select(fiber::on_recv(sel_a), fiber::on_recv(sel_b)); });
  std::atomic<bool> sleeper_go{false};  // the sleeper sleeps until the end, however long settling takes
  spawn("sleeper", [&] {
    while (!sleeper_go) fiber::this_fiber::sleep_for(2s);
  });
  spawn("blocker", [&] {
    fiber::blocking([&] {
      while (!blocking_go) std::this_thread::sleep_for(1ms);
    });
  });
  spawn("acceptor", [&] {
    auto first = listener.accept();   // the reader's connection, kept open while we wait again
    auto second = listener.accept();  // this one waits
  });
  auto conn = std::make_shared<std::optional<fiber::net::tcp_stream>>();
  spawn("reader", [&, conn] {  // connects to the acceptor, then waits for a byte that never comes
    conn->emplace(fiber::net::tcp_stream::connect(fiber::net::endpoint::parse("127.0.0.1:" + std::to_string(port))));
    char c;
    (void)(*conn)->read_some(fiber::net::mutable_buffer(&c, 1));
  });
  // A DNS lookup against a "server" that never answers: a UDP socket we hold open.
  int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(udp, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  socklen_t sl = sizeof sa;
  ::getsockname(udp, reinterpret_cast<sockaddr*>(&sa), &sl);
  const std::string dns_server = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
  spawn("resolver", [&] {
    std::error_code ec;
    fiber::net::resolve_options o;
    o.servers = {dns_server};
    o.timeout = 30000ms;
    o.tries = 1;
    (void)fiber::net::resolve("weft-test.invalid", "80", o, ec);
  });
  // A file read that waits (a pipe's read end through fiber::fs: in the ring, or on the blocking pool).
  int file_pipe[2];
  ASSERT_EQ(::pipe(file_pipe), 0);
  spawn("file-reader", [&] {
    fiber::fs::file f(file_pipe[0]);
    char c;
    std::error_code ec;
    (void)f.read_some(fiber::fs::mutable_buffer(&c, 1), ec);
  });
  fiber::join_handle<void>* sleeper = &hs[at["sleeper"]];
  spawn("joiner", [&] { sleeper->join(); });

  ASSERT_TRUE(eventually([&] { return rt.stats().parked >= hs.size() - 1; }));

  struct expect {
    const char* name;
    const char* kind;
    const char* text;
  };
  const expect cases[] = {
      {"mutex-waiter", "mutex", "held by fiber"},
      {"timed-waiter", "mutex", "held by fiber"},
      {"writer-waiter", "shared_mutex_write", "(write) held by fiber"},
      {"reader-waiter", "shared_mutex_read", "(read) held by fiber"},
      {"cv-waiter", "condition_variable", "fiber::condition_variable 0x"},
      {"sem-waiter", "semaphore", "fiber::counting_semaphore"},
      {"latch-waiter", "latch", "fiber::latch"},
      {"barrier-waiter", "barrier", "fiber::barrier"},
      {"wg-waiter", "wait_group", "fiber::wait_group"},
      {"future-waiter", "future", "fiber::future"},
      {"sender", "channel_send", "(capacity 1, length 1)"},
      {"receiver", "channel_recv", "(capacity 4, length 0)"},
      {"selector", "select", "select on 2 channel case(s)"},
      {"sleeper", "sleep", "s left"},
      {"blocker", "blocking", "fiber::blocking"},
      {"acceptor", "socket_read", "socket accept on fd"},
      {"acceptor", "socket_read", "(listening on 127.0.0.1:"},
      {"reader", "socket_read", "(peer 127.0.0.1:"},
      {"resolver", "dns", "DNS lookup of 'weft-test.invalid'"},
      {"file-reader", "file_io", "file read on fd"},
      {"file-reader", "file_io", "(pipe:["},
      {"joiner", "join", "join of fiber"},
      {"holder", "latch", "fiber::latch"},
  };
  // On a loaded machine a fiber may still be on its way into its wait (a connect, a pool job):
  // dump until every fiber shows the wait it is expected to be in (bounded), then check in detail.
  std::string text, js;
  json doc;
  const auto settled = [&] {
    text = capture([](std::FILE* f) { fiber::dump(f); });
    js = capture([](std::FILE* f) { fiber::dump_json(f); });
    doc = json{};
    if (!parse_json(js, doc)) return false;
    // Both views, since they come from two dumps: a fiber may have been on its way into its wait
    // in the first (the text) and in it by the second.
    for (const auto& c : cases) {
      const json* f = fiber_named(doc, c.name);
      if (!f || (*f)["wait"]["kind"].str() != c.kind) return false;
      if (block_of(text, c.name).find(c.text) == std::string::npos) return false;
    }
    return true;
  };
  (void)eventually(settled, 20000ms);  // on a timeout the checks below say which fiber is not there
  ASSERT_TRUE(parse_json(js, doc)) << js;
  for (const auto& c : cases) {
    const std::string block = block_of(text, c.name);
    EXPECT_NE(block.find(c.text), std::string::npos) << c.name << ":\n" << block << "\n---\n" << text;
    const json* f = fiber_named(doc, c.name);
    ASSERT_NE(f, nullptr) << c.name;
    EXPECT_EQ((*f)["type"].str(), "fiber");
    EXPECT_EQ((*f)["wait"]["kind"].str(), c.kind) << c.name;
    EXPECT_NE((*f)["wait"]["description"].str().find(c.text), std::string::npos) << c.name;
    EXPECT_GE((*f)["wait"]["for_ms"].num(), 0) << c.name;
    EXPECT_GE((*f)["worker"].num(), 0) << c.name;
    EXPECT_GT((*f)["stack_size"].num(), 0) << c.name;
    EXPECT_FALSE((*f)["backtrace"].arr().empty()) << c.name;
  }
  // Owners name the holder; the blocking fiber is in the blocking-pool state; the timed one has a deadline.
  EXPECT_NE(block_of(text, "mutex-waiter")
                .find("held by fiber " + std::to_string(static_cast<int>((*fiber_named(doc, "holder"))["id"].num())) +
                      " 'holder'"),
            std::string::npos);
  EXPECT_EQ((*fiber_named(doc, "mutex-waiter"))["wait"]["owner"]["name"].str(), "holder");
  EXPECT_EQ((*fiber_named(doc, "writer-waiter"))["wait"]["owner"]["name"].str(), "holder");
  EXPECT_EQ((*fiber_named(doc, "blocker"))["state"].str(), "blocking-pool");
  EXPECT_GT((*fiber_named(doc, "timed-waiter"))["wait"]["left_ms"].num(), 1000);
  EXPECT_EQ((*fiber_named(doc, "sender"))["wait"]["capacity"].num(), 1);
  EXPECT_EQ((*fiber_named(doc, "sender"))["wait"]["length"].num(), 1);
  EXPECT_EQ((*fiber_named(doc, "resolver"))["wait"]["host"].str(), "weft-test.invalid");
  EXPECT_TRUE((*fiber_named(doc, "acceptor"))["wait"]["accept"].v.index() == 1);
  EXPECT_NE((*fiber_named(doc, "reader"))["wait"]["peer"].str().find("127.0.0.1:"), std::string::npos);
  EXPECT_EQ((*fiber_named(doc, "file-reader"))["wait"]["fd"].num(), file_pipe[0]);
  EXPECT_EQ((*fiber_named(doc, "file-reader"))["wait"]["operation"].str(), "read");
  // Backtraces reach the test's own code (the lambda's frame, symbolized with its file).
  EXPECT_NE(block_of(text, "sem-waiter").find("TestBody"), std::string::npos) << block_of(text, "sem-waiter");

  // Let everything finish.
  blocking_go = true;
  sleeper_go = true;
  release.count_down();
  cv.notify_all();
  sem.release();
  lat.count_down();
  bar.arrive_and_drop();
  wg.done();
  prom.set_value(1);
  (void)full.recv();
  empty.send(1);
  sel_a.close();
  ASSERT_EQ(::write(file_pipe[1], "x", 1), 1);
  hs[at["resolver"]].request_stop();
  auto extra = fiber::net::tcp_stream::connect(fiber::net::endpoint::parse("127.0.0.1:" + std::to_string(port)));
  for (auto& h : hs)
    if (&h != sleeper && h.joinable()) h.join();  // the joiner fiber joins the sleeper
  conn->reset();
  ::close(udp);
  ::close(file_pipe[1]);  // the read end was closed by the reader's fiber::fs::file
}

TEST(Dump, WaitingThreadAndConnectAndRunningCaller) {
  fiber::runtime rt({.workers = 1});
  fiber::mutex m;
  fiber::latch hold(1);
  auto holder = fiber::spawn({.name = "thread-holder"}, [&] {
    std::lock_guard g(m);
    hold.wait();
  });
  std::this_thread::sleep_for(20ms);
  std::thread t([&] { std::lock_guard g(m); });  // an OS thread waits on a fiber mutex
  ASSERT_TRUE(eventually([&] {
    const std::string d = capture([](std::FILE* f) { fiber::dump(f); });
    return d.find("\nthread ") != std::string::npos && d.find("held by fiber") != std::string::npos;
  }));
  // A dump from a fiber: the caller is "running" and its own stack is shown.
  std::string from_fiber = rt.run([] { return capture([](std::FILE* f) { fiber::dump(f); }); });
  EXPECT_NE(from_fiber.find("[running]"), std::string::npos) << from_fiber;
  hold.count_down();
  holder.join();
  t.join();
}

TEST(Dump, StackHighWaterMark) {
  fiber::runtime rt({.workers = 1});
  fiber::latch go(1);
  auto h = fiber::spawn({.name = "deep", .stack_size = 256 * 1024}, [&] {
    volatile char big[96 * 1024];
    for (std::size_t i = 0; i < sizeof big; i += 512) big[i] = 1;
    go.wait();
    (void)big[0];
  });
  ASSERT_TRUE(eventually([&] { return rt.stats().parked == 1; }));
  const std::string js = capture([](std::FILE* f) { fiber::dump_json(f); });
  json doc;
  ASSERT_TRUE(parse_json(js, doc));
  const json* f = fiber_named(doc, "deep");
  ASSERT_NE(f, nullptr);
  EXPECT_GE((*f)["stack_used"].num(), 96 * 1024);
  EXPECT_LE((*f)["stack_used"].num(), (*f)["stack_size"].num());
  EXPECT_GE((*f)["stack_size"].num(), 250 * 1024);
  go.count_down();
  h.join();
}

// ---------------------------------------------------------------- a dump during churn

TEST(Dump, WhileTenThousandFibersChurn) {
  fiber::runtime rt({.workers = 2});
  const long fibers = weft_test::scaled(10'000);
  std::atomic<bool> stop{false};
  std::atomic<long> done{0};
  fiber::channel<int> ch(64);
  fiber::mutex m;
  long shared = 0;
  // A fiber that dumps on request: a dump from a fiber while the others churn.
  std::FILE* null = std::fopen("/dev/null", "w");
  fiber::channel<int> ask, answer;
  auto dumper = fiber::spawn({.name = "dumper"}, [&] {
    while (auto v = ask.recv()) {
      fiber::dump(null);
      answer.send(*v);
    }
  });
  std::atomic<long> running{0};
  // Churners spawn short-lived children (created, stolen, started and finished while we dump),
  // lock, send and receive, sleep and yield.
  std::vector<fiber::join_handle<void>> hs;
  for (long i = 0; i < fibers; ++i) {
    hs.push_back(fiber::spawn({.name = "churn-" + std::to_string(i)}, [&, i] {
      ++running;
      while (!stop.load(std::memory_order_relaxed)) {
        switch (i % 5) {
          case 0:
            fiber::spawn([] { fiber::this_fiber::yield(); }).join();
            break;
          case 1: {
            std::lock_guard g(m);
            ++shared;
            fiber::this_fiber::yield();
          } break;  // contended
          case 2:
            (void)ch.try_send(1);
            (void)ch.try_recv();
            fiber::this_fiber::yield();
            break;
          case 3:
            fiber::this_fiber::sleep_for(1ms);
            break;
          default:
            fiber::this_fiber::yield();
        }
      }
      ++done;
    }));
  }
  const auto t_start = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return running.load() == fibers; }, 120s));
  std::printf("%ld churners started in %.1f s\n", fibers,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count());
  double worst_ms = 0;
  for (int round = 0; round < 6; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    if (round % 2)
      fiber::dump_json(null);
    else
      fiber::dump(null);
    worst_ms =
        std::max(worst_ms, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (round == 3) {
      ask.send(round);
      EXPECT_EQ(answer.recv().value_or(-1), round);
    }
  }
  ask.close();
  dumper.join();
  // The pause itself (the dump header reports it), while they churn.
  const std::string text = capture([](std::FILE* f) { fiber::dump(f); });
  const auto p = text.find("workers paused ");
  ASSERT_NE(p, std::string::npos);
  std::printf("%s\n", text.substr(0, text.find('\n')).c_str());
  std::fclose(null);
  auto s = rt.stats();
  EXPECT_EQ(s.fibers, s.running + s.runnable + s.parked);
  stop = true;
  for (auto& h : hs) h.join();
  EXPECT_EQ(done.load(), fibers);
  std::printf("dump of %ld churning fibers: worst %.1f ms\n", fibers, worst_ms);
}

// ---------------------------------------------------------------- stats

TEST(Stats, StatesAddUpToLiveFibers) {
  fiber::runtime rt({.workers = 2});
  fiber::latch go(1);
  constexpr int parked = 200;
  std::vector<fiber::join_handle<void>> hs;
  for (int i = 0; i < parked; ++i) hs.push_back(rt.spawn([&] { go.wait(); }));
  ASSERT_TRUE(eventually([&] { return rt.stats().parked == parked; }));
  auto s = rt.stats();
  EXPECT_EQ(s.fibers, s.running + s.runnable + s.parked);
  EXPECT_EQ(s.fibers, static_cast<std::size_t>(parked));
  EXPECT_EQ(s.workers.size(), 2u);
  std::size_t live = 0;
  std::uint64_t switches = 0, parks = 0;
  for (auto& w : s.workers) {
    live += w.live_fibers;
    switches += w.switches;
    parks += w.parks;
  }
  EXPECT_EQ(live, static_cast<std::size_t>(parked));
  EXPECT_GE(switches, static_cast<std::uint64_t>(parked));
  EXPECT_GE(parks, static_cast<std::uint64_t>(parked));
  // The dump agrees.
  const std::string js = capture([](std::FILE* f) { fiber::dump_json(f); });
  json doc;
  ASSERT_TRUE(parse_json(js, doc));
  std::size_t in_dump = 0;
  for (const json& f : doc.arr()) in_dump += f["type"].str() == "fiber" && f["state"].str() == "parked";
  EXPECT_EQ(in_dump, static_cast<std::size_t>(parked));
  go.count_down();
  for (auto& h : hs) h.join();
  ASSERT_TRUE(eventually([&] { return rt.stats().fibers == 0; }));
  EXPECT_EQ(fiber::default_runtime().stats().workers.size(), rt.workers());  // rt is the default
  // Remote wake-ups, timers and I/O counters move.
  rt.run([] { fiber::this_fiber::sleep_for(1ms); });
  s = rt.stats();
  std::uint64_t timers = 0, remote = 0, polls = 0;
  for (auto& w : s.workers) {
    timers += w.timers;
    remote += w.remote_wakeups;
    polls += w.polls;
  }
  EXPECT_GE(timers, 1u);
  EXPECT_GE(remote, 1u);
  EXPECT_GE(polls, 1u);
}

TEST(Stats, RunnableAndRunning) {
  fiber::runtime rt({.workers = 1});
  std::atomic<bool> stop{false};
  std::atomic<int> started{0};
  auto spinner = rt.spawn([&] {
    ++started;
    while (!stop) fiber::this_fiber::yield();
  });
  auto other = rt.spawn([&] {
    ++started;
    while (!stop) fiber::this_fiber::yield();
  });
  ASSERT_TRUE(eventually([&] { return started == 2; }));
  auto s = rt.stats();
  EXPECT_EQ(s.fibers, 2u);
  EXPECT_EQ(s.parked, 0u);
  EXPECT_EQ(s.running + s.runnable, 2u);
  stop = true;
  spinner.join();
  other.join();
}

TEST(Stats, LatencyHistogramsWhenEnabled) {
  if (in_child()) GTEST_SKIP();
  auto r = run_child("LatencyStats", "WEFT_LATENCY_STATS=1 WEFT_DEBUG_TEST_CHILD=1");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("latency ok"), std::string::npos) << r.output;
}

TEST(DebugChild, LatencyStats) {
  if (!in_child()) GTEST_SKIP();
  fiber::runtime rt({.workers = 2});
  auto l = fiber::net::tcp_listener::bind("127.0.0.1:0");
  const auto ep = l.local_endpoint();
  auto server = rt.spawn([&] {
    auto s = l.accept();
    char buf[16];
    while (auto n = s.read_some(fiber::net::mutable_buffer(buf, sizeof buf)))
      s.write_all(fiber::net::const_buffer(buf, n));
  });
  rt.run([&] {
    auto c = fiber::net::tcp_stream::connect(ep);
    char b = 'x';
    for (int i = 0; i < 200; ++i) {
      c.write_all(fiber::net::const_buffer(&b, 1));
      (void)c.read_exact(fiber::net::mutable_buffer(&b, 1));
      fiber::this_fiber::yield();
    }
  });
  server.join();
  auto s = rt.stats();
  ASSERT_TRUE(s.latency_stats);
  std::uint64_t rq = 0, wake = 0;
  for (auto& w : s.workers) {
    rq += w.run_queue_wait.count;
    wake += w.wake_to_run.count;
    if (w.run_queue_wait.count) {
      EXPECT_GT(w.run_queue_wait.quantile_ns(0.99), 0u);
      EXPECT_GE(w.run_queue_wait.quantile_ns(0.99), w.run_queue_wait.quantile_ns(0.5));
    }
  }
  EXPECT_GT(rq, 200u);
  EXPECT_GT(wake, 20u);
  // CPU time per fiber appears in the dump.
  fiber::latch go(1);
  auto h = fiber::spawn({.name = "cpu"}, [&] {
    volatile long x = 0;
    for (long i = 0; i < 2'000'000; ++i) x = x + i;
    go.wait();
  });
  ASSERT_TRUE(eventually([&] { return rt.stats().parked == 1; }));
  const std::string js = capture([](std::FILE* f) { fiber::dump_json(f); });
  json doc;
  ASSERT_TRUE(parse_json(js, doc));
  ASSERT_NE(fiber_named(doc, "cpu"), nullptr);
  EXPECT_GT((*fiber_named(doc, "cpu"))["cpu_ns"].num(), 100'000);
  go.count_down();
  h.join();
  std::printf("latency ok\n");
}

// ---------------------------------------------------------------- the signal path, dump at exit

TEST(DumpSignal, SigusrPrintsADumpAndTheProgramGoesOn) {
  if (in_child()) GTEST_SKIP();
  auto r = run_child("SignalTarget", "WEFT_DUMP_SIGNAL=SIGUSR1 WEFT_DEBUG_TEST_CHILD=1");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("weft: fiber dump"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'signalled' [parked"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("still running"), std::string::npos) << r.output;
  r = run_child("SignalTarget", "WEFT_DUMP_SIGNAL=10 WEFT_DEBUG_TEST_CHILD=1");  // a number works too
  EXPECT_NE(r.output.find("'signalled' [parked"), std::string::npos) << r.output;
}

TEST(DebugChild, SignalTarget) {
  if (!in_child()) GTEST_SKIP();
  fiber::runtime rt({.workers = 1});
  fiber::latch go(1);
  auto h = fiber::spawn({.name = "signalled"}, [&] { go.wait(); });
  ASSERT_TRUE(eventually([&] { return rt.stats().parked == 1; }));
  ::kill(::getpid(), SIGUSR1);
  std::this_thread::sleep_for(500ms);  // the dump thread prints meanwhile
  go.count_down();
  h.join();
  std::printf("still running\n");
}

TEST(DumpOnExit, PrintsTheFibersStillAlive) {
  if (in_child()) GTEST_SKIP();
  auto r = run_child("LeavesAFiber", "WEFT_DUMP_ON_EXIT=1 WEFT_DEBUG_TEST_CHILD=1");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("WEFT_DUMP_ON_EXIT"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'forgotten' [parked"), std::string::npos) << r.output;
}

TEST(DebugChild, LeavesAFiber) {
  if (!in_child()) GTEST_SKIP();
  static fiber::latch never(1);
  fiber::spawn({.name = "forgotten"}, [] { never.wait(); }).detach();  // on the implicit default runtime
  ASSERT_TRUE(eventually([] { return fiber::default_runtime().stats().parked == 1; }));
}

// ---------------------------------------------------------------- deadlock reports

TEST(DeadlockCheck, TwoMutexesInOppositeOrder) {
  if (in_child()) GTEST_SKIP();
  auto r = run_child("OppositeOrder", "WEFT_DEADLOCK_CHECK=1 WEFT_DEBUG_TEST_CHILD=1");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("weft: deadlock (WEFT_DEADLOCK_CHECK)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'left' ["), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'right' ["), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("held by fiber"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("lock_slow"), std::string::npos) << r.output;  // backtraces
  EXPECT_EQ(r.output.find("not reached"), std::string::npos) << r.output;
}

TEST(DebugChild, OppositeOrder) {
  if (!in_child()) GTEST_SKIP();
  fiber::runtime rt({.workers = 2});
  fiber::mutex a, b;
  fiber::latch both(2);
  auto l = fiber::spawn({.name = "left"}, [&] {
    std::lock_guard g(a);
    both.arrive_and_wait();
    std::lock_guard h(b);
  });
  auto r = fiber::spawn({.name = "right"}, [&] {
    std::lock_guard g(b);
    both.arrive_and_wait();
    std::lock_guard h(a);
  });
  l.join();
  r.join();
  std::printf("not reached\n");
}

TEST(DeadlockCheck, JoinCycle) {
  if (in_child()) GTEST_SKIP();
  auto r = run_child("JoinCycle", "WEFT_DEADLOCK_CHECK=1 WEFT_DEBUG_TEST_CHILD=1");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("weft: deadlock"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'ping' ["), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'pong' ["), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("join of fiber"), std::string::npos) << r.output;
}

TEST(DebugChild, JoinCycle) {
  if (!in_child()) GTEST_SKIP();
  fiber::runtime rt({.workers = 2});
  fiber::join_handle<void> ping, pong;
  fiber::latch handles(1);
  ping = fiber::spawn({.name = "ping"}, [&] {
    handles.wait();
    pong.join();
  });
  pong = fiber::spawn({.name = "pong"}, [&] {
    handles.wait();
    ping.join();
  });
  handles.count_down();
  std::this_thread::sleep_for(10s);
  std::printf("not reached\n");
}

TEST(DeadlockCheck, SharedMutexWriterAndMutex) {
  if (in_child()) GTEST_SKIP();
  auto r = run_child("SharedWriter", "WEFT_DEADLOCK_CHECK=1 WEFT_DEBUG_TEST_CHILD=1");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("'w1' ["), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'w2' ["), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("fiber::shared_mutex"), std::string::npos) << r.output;
}

TEST(DebugChild, SharedWriter) {
  if (!in_child()) GTEST_SKIP();
  fiber::runtime rt({.workers = 1});
  fiber::shared_mutex s;
  fiber::recursive_mutex m;
  fiber::latch both(2);
  auto a = fiber::spawn({.name = "w1"}, [&] {
    std::unique_lock g(s);
    both.arrive_and_wait();
    std::lock_guard h(m);
  });
  auto b = fiber::spawn({.name = "w2"}, [&] {
    std::lock_guard h(m);
    both.arrive_and_wait();
    std::unique_lock g(s);
  });
  a.join();
  b.join();
}

TEST(DeadlockCheck, TimedCycleIsOnlyAWarning) {
  if (in_child()) GTEST_SKIP();
  auto r = run_child("TimedCycle", "WEFT_DEADLOCK_CHECK=1 WEFT_DEBUG_TEST_CHILD=1");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("only a timeout can end"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("timed out as planned"), std::string::npos) << r.output;
}

TEST(DebugChild, TimedCycle) {
  if (!in_child()) GTEST_SKIP();
  fiber::runtime rt({.workers = 2});
  fiber::timed_mutex a, b;
  fiber::latch both(2);
  std::atomic<int> timeouts{0};
  auto l = fiber::spawn({.name = "tl"}, [&] {
    std::lock_guard g(a);
    both.arrive_and_wait();
    if (!b.try_lock_for(300ms))
      ++timeouts;
    else
      b.unlock();
  });
  auto r = fiber::spawn({.name = "tr"}, [&] {
    std::lock_guard g(b);
    both.arrive_and_wait();
    if (!a.try_lock_for(300ms))
      ++timeouts;
    else
      a.unlock();
  });
  l.join();
  r.join();
  EXPECT_GE(timeouts.load(), 1);
  std::printf("timed out as planned\n");
}

TEST(DeadlockCheck, AllFibersAsleep) {
  if (in_child()) GTEST_SKIP();
  auto r = run_child("AllAsleep", "WEFT_DEADLOCK_CHECK=1 WEFT_DEBUG_TEST_CHILD=1", 20);
  if (r.status == 0 && r.output.find("cannot tell") != std::string::npos)
    GTEST_SKIP() << "the check cannot tell in this environment: " << r.output;
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("all fibers are asleep - deadlock!"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'stuck' [parked"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("channel recv"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nthread "), std::string::npos) << r.output;  // main, waiting in join
}

TEST(DebugChild, AllAsleep) {
  if (!in_child()) GTEST_SKIP();
  // The main thread joins a fiber that waits on a channel nobody else knows about. No helper
  // thread may exist (it could notify): an alarm ends the child if the check cannot tell.
  std::signal(SIGALRM, [](int) {
    static const char msg[] = "cannot tell: no report after 8 s\n";
    [[maybe_unused]] auto n = ::write(1, msg, sizeof msg - 1);
    std::_Exit(0);
  });
  ::alarm(8);
  fiber::runtime rt({.workers = 2});
  fiber::channel<int> nobody_sends;
  fiber::spawn({.name = "stuck"}, [&] { (void)nobody_sends.recv(); }).join();
  std::printf("not reached\n");
}

TEST(DeadlockCheck, NoReportWhileAThreadMayStillNotify) {
  if (in_child()) GTEST_SKIP();
  auto r = run_child("ThreadNotifiesLate", "WEFT_DEADLOCK_CHECK=1 WEFT_DEBUG_TEST_CHILD=1");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("deadlock"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("notified late"), std::string::npos) << r.output;
}

TEST(DebugChild, ThreadNotifiesLate) {
  if (!in_child()) GTEST_SKIP();
  fiber::runtime rt({.workers = 2});
  fiber::channel<int> ch;
  std::thread late([&] {
    std::this_thread::sleep_for(1500ms);  // a plain thread, busy elsewhere: it may still send
    ch.send(1);
  });
  fiber::spawn({.name = "patient"}, [&] { (void)ch.recv(); }).join();
  late.join();
  std::printf("notified late\n");
}
