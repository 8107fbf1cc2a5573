// dump.cpp — fiber::dump() / dump_json(): pause every worker at a scheduling point, copy what each
// fiber waits for, release, then symbolize and print (the design is in fiber/debug.hpp). Also the
// runtime registry and the environment-driven services (WEFT_DUMP_SIGNAL, WEFT_DUMP_ON_EXIT).
#include <fiber/debug.hpp>

#include <fiber/detail/debug_registry.hpp>
#include <fiber/detail/dump_internal.hpp>
#include <fiber/detail/fast_clock.hpp>
#include <fiber/detail/os/cpu.hpp>
#include <fiber/detail/os/stack_memory.hpp>
#include <fiber/detail/os/thread_waiter.hpp>
#include <fiber/detail/runtime_core.hpp>
#include <sync/detail/mutex_core.hpp>
#include <sync/shared_mutex.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <semaphore.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <unordered_map>

namespace fiber::detail {

// ---------------------------------------------------------------- registry

// Never destroyed: dumps may run during static destruction. Out of memory at first use ends the
// process (noexcept), which is what it should do that early.
std::mutex& runtime_registry_lock() noexcept {
  static auto* mu = new std::mutex;  // NOLINT(bugprone-unhandled-exception-at-new)
  return *mu;
}
std::vector<runtime_core*>& runtime_registry() noexcept {
  static auto* v = new std::vector<runtime_core*>;  // NOLINT(bugprone-unhandled-exception-at-new)
  return *v;
}
void register_runtime(runtime_core* rt) {
  std::lock_guard lk(runtime_registry_lock());
  runtime_registry().push_back(rt);
}
void unregister_runtime(runtime_core* rt) {
  std::lock_guard lk(runtime_registry_lock());
  auto& v = runtime_registry();
  v.erase(std::remove(v.begin(), v.end(), rt), v.end());
}

namespace {

constexpr auto pause_timeout = std::chrono::milliseconds(200);
std::atomic<std::uint64_t> pause_generation{0};
std::atomic<bool> dump_busy{false};

// One dump at a time. A fiber waiting for another dump yields, so that its worker can pause for it.
struct dump_lock {
  dump_lock() {
    while (dump_busy.exchange(true, std::memory_order_acquire)) {
      if (worker* w = worker::current(); w && w->running())
        w->yield_current();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  ~dump_lock() { dump_busy.store(false, std::memory_order_release); }
};

std::string format_sockaddr(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN + 16] = {};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    char ip[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    std::snprintf(buf, sizeof buf, "%s:%u", ip, ntohs(in->sin_port));
    return buf;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    char ip[INET6_ADDRSTRLEN];
    ::inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    std::snprintf(buf, sizeof buf, "[%s]:%u", ip, ntohs(in6->sin6_port));
    return buf;
  }
  if (sa->sa_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(sa);
    return std::string("unix:") + std::string(un->sun_path, ::strnlen(un->sun_path, sizeof un->sun_path));
  }
  return "?";
}

}  // namespace

// ---------------------------------------------------------------- snapshots

void snapshot_wait(const wait_record& r, const void* self, wait_snapshot& w) noexcept {
  w.kind = r.kind.load(std::memory_order_acquire);
  if (w.kind == wait_kind::none) return;
  w.object = r.object.load(std::memory_order_relaxed);
  w.detail = r.detail.load(std::memory_order_relaxed);
  w.via = r.via.load(std::memory_order_relaxed);
  const void* extra = r.extra.load(std::memory_order_relaxed);
  w.for_ns = wait_age_ns(r.since.load(std::memory_order_relaxed));
  if (const std::int64_t until = r.until_ns.load(std::memory_order_relaxed); until > 0) {
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count();
    w.left_ns = std::max<std::int64_t>(0, until - now);
  }
  auto set_owner = [&](const void* p) {
    if (!p || p == self) return;
    w.owner_ptr = p;
    w.owner = is_thread_parker(p) ? owner_kind::thread : owner_kind::fiber;
  };
  try {
    switch (w.kind) {
      case wait_kind::mutex: {
        const auto* m = static_cast<const mutex_core*>(w.object);
        if (m->is_locked()) set_owner(m->holder_who());
        break;
      }
      case wait_kind::shared_mutex_writer:
      case wait_kind::shared_mutex_reader: {
        const auto* s = static_cast<const shared_core*>(w.object);
        if (s->writers().is_locked()) set_owner(s->writers().holder_who());
        w.length = s->reader_count();
        w.has_length = true;
        break;
      }
      case wait_kind::join:
        w.owner_ptr = w.object;
        w.owner = owner_kind::fiber;
        break;
      case wait_kind::channel_send:
      case wait_kind::channel_recv:
        if (extra) {
          w.length = reinterpret_cast<length_fn>(const_cast<void*>(extra))(w.object);
          w.has_length = true;
        }
        break;
      case wait_kind::dns:
        if (extra) w.text_arg.assign(static_cast<const char*>(extra), ::strnlen(static_cast<const char*>(extra), 255));
        break;
      case wait_kind::socket_connect:
        if (extra) w.text_arg = format_sockaddr(static_cast<const sockaddr*>(extra));
        break;
      case wait_kind::file_io: {
        // The operation's name is a string literal; the path is what /proc says the fd is now.
        if (extra) w.op_name = static_cast<const char*>(extra);
        char link[64], path[512];
        std::snprintf(link, sizeof link, "/proc/self/fd/%d", static_cast<int>(w.detail));
        const ssize_t n = ::readlink(link, path, sizeof path - 1);
        if (n > 0) w.text_arg.assign(path, static_cast<std::size_t>(n));
        break;
      }
      case wait_kind::socket_read:
      case wait_kind::socket_write: {
        // The fd stays open while its waiter is parked (the wait holds an operation on it).
        const int fd = static_cast<int>(w.detail);
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
          w.text_arg = format_sockaddr(reinterpret_cast<sockaddr*>(&ss));
        } else if (errno == ENOTCONN) {
          int accepting = 0;
          socklen_t al = sizeof accepting;
          if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &al) == 0 && accepting) {
            w.listening = true;
            len = sizeof ss;
            if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
              w.text_arg = format_sockaddr(reinterpret_cast<sockaddr*>(&ss));
          } else if (w.kind == wait_kind::socket_write) {
            w.connecting = true;
          }
        }
        break;
      }
      default:
        break;
    }
  } catch (...) {
  }
}

void snapshot_started(fiber_control* f, int worker_index, bool current, fiber_snapshot& s) {
  s.ptr = f;
  s.id = f->id;
  s.name = f->name;
  s.worker = worker_index;
  s.stack_lo = static_cast<const char*>(f->ctx.stack_lo);
  s.stack_size = f->stack_size;
  if (latency_stats_enabled())
    s.cpu_ns = ticks_to_ns(static_cast<std::int64_t>(f->cpu_ticks.load(std::memory_order_relaxed)));
  const std::uint64_t word = f->word.load(std::memory_order_acquire);
  snapshot_wait(f->wait, f, s.wait);
  if (current || f->state == fiber_state::running) {
    s.state = fiber_view_state::running;
  } else if (f->state == fiber_state::parked && (word & ps_mask) < ps_woken) {
    s.state = s.wait.kind == wait_kind::blocking ? fiber_view_state::blocking : fiber_view_state::parked;
  } else {
    s.state = fiber_view_state::runnable;
  }
  if (current) {
    unwind_current(s.bt);
    s.bt_is_current = true;
  } else if (s.state != fiber_view_state::running) {
    unwind_suspended(f->ctx.handle, f->ctx.stack_lo, static_cast<const char*>(f->ctx.stack_lo) + f->ctx.stack_size,
                     s.bt);
  }
}

void finish_snapshots(dump_doc& doc) noexcept {
  const std::size_t pg = page_size();
  for (auto& f : doc.fibers) {
    if (!f.stack_lo || f.stack_size == 0) continue;
    // Resident pages of the usable stack: the fiber's high-water mark (an upper bound when the
    // stack came warm from the cache: earlier fibers' pages count too). The page holding the
    // control block is always resident.
    const std::size_t bytes = (f.stack_size + pg - 1) / pg * pg;
    f.stack_used = std::min(f.stack_size, resident_bytes(f.stack_lo, bytes));
  }
}

std::string thread_name(int tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string name;
  if (in) std::getline(in, name);
  return name;
}

// ---------------------------------------------------------------- printing

namespace {

std::string human_ns(std::int64_t ns) {
  char buf[32];
  if (ns < 1'000)
    std::snprintf(buf, sizeof buf, "%lld ns", static_cast<long long>(ns));
  else if (ns < 1'000'000)
    std::snprintf(buf, sizeof buf, "%.1f us", static_cast<double>(ns) / 1e3);
  else if (ns < 1'000'000'000)
    std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(ns) / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(ns) / 1e9);
  return buf;
}

std::string hex(const void* p) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

const fiber_snapshot* find_fiber(const dump_doc* doc, const void* p) {
  if (!doc) return nullptr;
  for (const auto& f : doc->fibers)
    if (f.ptr == p) return &f;
  return nullptr;
}

std::string fiber_label(std::uint64_t id, const std::string& name) {
  std::string s = "fiber " + std::to_string(id);
  if (!name.empty()) s += " '" + name + "'";
  return s;
}

std::string owner_text(const wait_snapshot& w, const dump_doc* doc) {
  switch (w.owner) {
    case owner_kind::fiber:
      if (const fiber_snapshot* f = find_fiber(doc, w.owner_ptr)) return fiber_label(f->id, f->name);
      return "a fiber at " + hex(w.owner_ptr) + " (not in this dump)";
    case owner_kind::thread: {
      const auto* t = static_cast<const thread_parker*>(w.owner_ptr);
      const int tid = t->tid.load(std::memory_order_relaxed);
      std::string s = "thread " + std::to_string(tid);
      if (tid > 0) {
        const std::string n = thread_name(tid);
        if (!n.empty()) s += " '" + n + "'";
      }
      return s + " (not a fiber)";
    }
    default:
      return {};
  }
}

}  // namespace

std::string describe_wait(const wait_snapshot& w, const dump_doc* doc) {
  std::string s;
  const std::string obj = hex(w.object);
  switch (w.kind) {
    case wait_kind::none:
      return "nothing recorded";
    case wait_kind::mutex:
      s = "fiber::mutex " + obj;
      break;
    case wait_kind::shared_mutex_writer:
      s = "fiber::shared_mutex " + obj + " (write)";
      if (w.owner == owner_kind::none && w.has_length)
        s += ", waiting for " + std::to_string(w.length) + " reader(s) to leave";
      break;
    case wait_kind::shared_mutex_reader:
      s = "fiber::shared_mutex " + obj + " (read)";
      break;
    case wait_kind::condition_variable:
      s = "fiber::condition_variable " + obj;
      break;
    case wait_kind::semaphore:
      s = "fiber::counting_semaphore " + obj;
      break;
    case wait_kind::latch:
      s = "fiber::latch " + obj;
      break;
    case wait_kind::barrier:
      s = "fiber::barrier " + obj;
      break;
    case wait_kind::wait_group:
      s = "fiber::wait_group " + obj;
      break;
    case wait_kind::future:
      s = "fiber::future " + obj;
      break;
    case wait_kind::channel_send:
    case wait_kind::channel_recv:
      s = std::string(w.kind == wait_kind::channel_send ? "channel send on " : "channel recv on ") + obj +
          " (capacity " + std::to_string(w.detail);
      if (w.has_length) s += ", length " + std::to_string(w.length);
      s += ")";
      break;
    case wait_kind::select:
      s = w.detail ? "select on " + std::to_string(w.detail) + " channel case(s)" : "select with no channel case";
      break;
    case wait_kind::join: {
      const fiber_snapshot* f = find_fiber(doc, w.object);
      s = "join of " + fiber_label(w.detail, f ? f->name : std::string());
      break;
    }
    case wait_kind::sleep:
      s = "sleep";
      break;
    case wait_kind::socket_read:
    case wait_kind::socket_write:
      if (w.listening)
        s = "socket accept on fd " + std::to_string(w.detail);
      else if (w.connecting)
        s = "socket connect on fd " + std::to_string(w.detail);
      else
        s = std::string(w.kind == wait_kind::socket_read ? "socket read on fd " : "socket write on fd ") +
            std::to_string(w.detail);
      if (!w.text_arg.empty()) s += (w.listening ? " (listening on " : " (peer ") + w.text_arg + ")";
      break;
    case wait_kind::socket_connect:
      s = "socket connect on fd " + std::to_string(w.detail);
      if (!w.text_arg.empty()) s += " (to " + w.text_arg + ")";
      break;
    case wait_kind::dns:
      s = "DNS lookup of '" + w.text_arg + "'";
      break;
    case wait_kind::file_io:
      s = std::string("file ") + (w.op_name ? w.op_name : "I/O") + " on fd " + std::to_string(w.detail);
      if (!w.text_arg.empty()) s += " (" + w.text_arg + ")";
      break;
    case wait_kind::blocking:
      s = "fiber::blocking (a job on an offload thread)";
      break;
    case wait_kind::pthread_mutex:
      s = "pthread mutex " + obj + " (hooked pthread_mutex_lock)";
      break;
    case wait_kind::pthread_cond:
      s = "pthread condition variable " + obj + " (hooked pthread_cond_wait)";
      break;
    case wait_kind::other:
    case wait_kind::count_:
      s = "a park";
      break;
  }
  if (w.owner != owner_kind::none && w.kind != wait_kind::join) s += " held by " + owner_text(w, doc);
  if (w.via) s += std::string(", in a hooked POSIX call (") + w.via + ")";
  if (w.left_ns >= 0) s += ", " + human_ns(w.left_ns) + " left";
  return s;
}

namespace {

const char* state_name(fiber_view_state s) {
  switch (s) {
    case fiber_view_state::running:
      return "running";
    case fiber_view_state::runnable:
      return "runnable";
    case fiber_view_state::unstarted:
      return "runnable (not started)";
    case fiber_view_state::parked:
      return "parked";
    case fiber_view_state::blocking:
      return "blocking-pool";
  }
  return "?";
}

// "ns::f(int, std::chrono::time_point<...>) const" -> "ns::f(...) const": parameter lists of
// templates make frames unreadable; the file:line says where it is.
std::string short_function(const std::string& fn) {
  if (fn.empty() || fn.size() < 48) return fn;
  std::size_t end = fn.size();
  while (end > 0 && fn[end - 1] != ')') --end;  // skip " const", " &&" ...
  if (end == 0) return fn;
  int depth = 0;
  for (std::size_t i = end; i-- > 0;) {
    if (fn[i] == ')') ++depth;
    if (fn[i] == '(' && --depth == 0) {
      if (end - i <= 2) return fn;
      return fn.substr(0, i) + "(...)" + fn.substr(end);
    }
  }
  return fn;
}

std::string frame_text(const symbolizer::frame& fr, std::uintptr_t pc) {
  std::string s = fr.function.empty() ? hex(reinterpret_cast<void*>(pc)) : short_function(fr.function);
  if (s.size() > 200) s = s.substr(0, 197) + "...";
  if (!fr.file.empty()) {
    if (fr.line > 0)
      s += " at " + fr.file + ":" + std::to_string(fr.line);
    else
      s += " (" + fr.file + "+0x" + [&] {
        char b[20];
        std::snprintf(b, sizeof b, "%lx", static_cast<unsigned long>(fr.offset));
        return std::string(b);
      }() + ")";
  }
  return s;
}

// The frames to show: weft's own switching frames at the top are left out, and nothing below the
// fiber's entry function (Boost.Context's trampoline).
// The reporting machinery on the caller's own stack (a dump from a fiber, a deadlock report).
bool is_reporter_frame(const std::string& fn) {
  static constexpr const char* names[] = {"fiber::dump",
                                          "fiber::detail::check_wait_cycle",
                                          "fiber::detail::collect_all",
                                          "fiber::detail::snapshot_started",
                                          "fiber::detail::unwind_current",
                                          "fiber::detail::(anonymous namespace)::"};
  for (const char* n : names)
    if (fn.compare(0, std::strlen(n), n) == 0) return true;
  return false;
}

template <class Fn>
void for_each_frame(const fiber_snapshot& f, symbolizer& sym, Fn&& fn) {
  std::vector<symbolizer::frame> frames;
  unsigned first = 0;
  for (unsigned i = 0; i < f.bt.n; ++i) {
    frames.push_back(sym.resolve(f.bt.pc[i], true));
    const std::string& name = frames.back().function;
    if (f.bt_is_current ? is_reporter_frame(name) && name.find("fiber_entry") == std::string::npos
                        : is_switch_frame(name) && first == i)
      first = i + 1;
  }
  unsigned shown = 0;
  for (unsigned i = first; i < frames.size(); ++i) {
    fn(shown++, f.bt.pc[i], frames[i]);
    if (frames[i].function.find("fiber_entry") != std::string::npos) break;
  }
}

void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void json_wait(std::string& o, const wait_snapshot& w, const dump_doc& doc) {
  o += "{\"kind\":";
  json_string(o, wait_kind_name(w.kind));
  o += ",\"object\":";
  json_string(o, hex(w.object));
  o += ",\"description\":";
  json_string(o, describe_wait(w, &doc));
  if (w.for_ns >= 0) o += ",\"for_ms\":" + std::to_string(w.for_ns / 1'000'000);
  if (w.left_ns >= 0) o += ",\"left_ms\":" + std::to_string(w.left_ns / 1'000'000);
  switch (w.kind) {
    case wait_kind::socket_read:
    case wait_kind::socket_write:
    case wait_kind::socket_connect:
      o += ",\"fd\":" + std::to_string(w.detail);
      if (w.listening) o += ",\"accept\":true";
      if (w.connecting || w.kind == wait_kind::socket_connect) o += ",\"connect\":true";
      if (!w.text_arg.empty()) {
        o += w.listening ? ",\"local\":" : ",\"peer\":";
        json_string(o, w.text_arg);
      }
      break;
    case wait_kind::file_io:
      o += ",\"fd\":" + std::to_string(w.detail);
      if (w.op_name) {
        o += ",\"operation\":";
        json_string(o, w.op_name);
      }
      if (!w.text_arg.empty()) {
        o += ",\"path\":";
        json_string(o, w.text_arg);
      }
      break;
    case wait_kind::channel_send:
    case wait_kind::channel_recv:
      o += ",\"capacity\":" + std::to_string(w.detail);
      if (w.has_length) o += ",\"length\":" + std::to_string(w.length);
      break;
    case wait_kind::join:
      o += ",\"fiber\":" + std::to_string(w.detail);
      break;
    case wait_kind::dns:
      o += ",\"host\":";
      json_string(o, w.text_arg);
      break;
    case wait_kind::select:
      o += ",\"cases\":" + std::to_string(w.detail);
      break;
    default:
      break;
  }
  if (w.via) {
    o += ",\"via\":";
    json_string(o, w.via);
  }
  if (w.owner == owner_kind::fiber && w.kind != wait_kind::join) {
    o += ",\"owner\":{\"type\":\"fiber\"";
    if (const fiber_snapshot* f = find_fiber(&doc, w.owner_ptr)) {
      o += ",\"id\":" + std::to_string(f->id) + ",\"name\":";
      json_string(o, f->name);
    }
    o += "}";
  } else if (w.owner == owner_kind::thread) {
    o += ",\"owner\":{\"type\":\"thread\",\"tid\":" +
         std::to_string(static_cast<const thread_parker*>(w.owner_ptr)->tid.load(std::memory_order_relaxed)) + "}";
  }
  o += "}";
}

}  // namespace

void print_text(std::FILE* out, const dump_doc& doc, symbolizer& sym, const char* title) {
  std::string o;
  char head[256];
  char paused[48] = "";
  if (doc.pause_ns > 0)
    std::snprintf(paused, sizeof paused, "workers paused %.2f ms; ", static_cast<double>(doc.pause_ns) / 1e6);
  std::snprintf(head, sizeof head, "%s: %zu fiber(s), %zu waiting thread(s), pid %d (%sbacktraces: %s, symbols: %s)\n",
                title, doc.fibers.size(), doc.threads.size(), static_cast<int>(::getpid()), paused, unwinder_name(),
                sym.backend());
  o += head;
  for (const auto& f : doc.fibers) {
    o += "\n" + fiber_label(f.id, f.name) + " [" + state_name(f.state);
    if (f.wait.kind != wait_kind::none && f.wait.for_ns >= 0 && f.state != fiber_view_state::running)
      o += ", " + human_ns(f.wait.for_ns);
    o += "]";
    if (f.worker >= 0) o += " worker " + std::to_string(f.worker);
    o += "\n";
    if (f.wait.kind != wait_kind::none && f.state != fiber_view_state::running)
      o += "    waiting for: " + describe_wait(f.wait, &doc) + "\n";
    if (f.stack_size) {
      o += "    stack: " + std::to_string(f.stack_used / 1024) + " KiB touched of " +
           std::to_string(f.stack_size / 1024) + " KiB";
      if (f.cpu_ns >= 0) o += ", cpu " + human_ns(f.cpu_ns);
      o += "\n";
    }
    for_each_frame(f, sym, [&](unsigned i, std::uintptr_t pc, const symbolizer::frame& fr) {
      o += "      #" + std::to_string(i) + " " + frame_text(fr, pc) + "\n";
    });
  }
  for (const auto& t : doc.threads) {
    o += "\nthread " + std::to_string(t.tid);
    if (!t.name.empty()) o += " '" + t.name + "'";
    o += " [waiting";
    if (t.wait.for_ns >= 0) o += ", " + human_ns(t.wait.for_ns);
    o += "]\n    waiting for: " + describe_wait(t.wait, &doc) + "\n";
  }
  for (const auto& w : doc.workers)
    if (!w.responding)
      o += "\nworker " + std::to_string(w.index) +
           ": not responding (a fiber ran 200+ ms without a switch); its fibers are not shown\n";
  std::fwrite(o.data(), 1, o.size(), out);
  std::fflush(out);
}

void print_json(std::FILE* out, const dump_doc& doc, symbolizer& sym) {
  std::string o = "[";
  bool first = true;
  auto sep = [&] {
    if (!first) o += ",";
    first = false;
    o += "\n";
  };
  for (const auto& f : doc.fibers) {
    sep();
    o += "{\"type\":\"fiber\",\"id\":" + std::to_string(f.id) + ",\"name\":";
    json_string(o, f.name);
    o += ",\"state\":";
    json_string(o, state_name(f.state));
    o += ",\"worker\":" + std::to_string(f.worker);
    if (f.wait.kind != wait_kind::none && f.state != fiber_view_state::running) {
      o += ",\"wait\":";
      json_wait(o, f.wait, doc);
    }
    o += ",\"stack_size\":" + std::to_string(f.stack_size) + ",\"stack_used\":" + std::to_string(f.stack_used);
    if (f.cpu_ns >= 0) o += ",\"cpu_ns\":" + std::to_string(f.cpu_ns);
    o += ",\"backtrace\":[";
    bool ffirst = true;
    for_each_frame(f, sym, [&](unsigned, std::uintptr_t pc, const symbolizer::frame& fr) {
      if (!ffirst) o += ",";
      ffirst = false;
      o += "{\"pc\":";
      json_string(o, hex(reinterpret_cast<void*>(pc)));
      o += ",\"function\":";
      json_string(o, fr.function);
      if (!fr.file.empty()) {
        o += ",\"file\":";
        json_string(o, fr.file);
      }
      if (fr.line > 0) o += ",\"line\":" + std::to_string(fr.line);
      o += "}";
    });
    o += "]}";
  }
  for (const auto& t : doc.threads) {
    sep();
    o += "{\"type\":\"thread\",\"tid\":" + std::to_string(t.tid) + ",\"name\":";
    json_string(o, t.name);
    o += ",\"state\":\"waiting\",\"wait\":";
    json_wait(o, t.wait, doc);
    o += "}";
  }
  for (const auto& w : doc.workers) {
    if (w.responding) continue;
    sep();
    o += "{\"type\":\"worker\",\"worker\":" + std::to_string(w.index) + ",\"state\":\"not responding\"}";
  }
  o += "\n]\n";
  std::fwrite(o.data(), 1, o.size(), out);
  std::fflush(out);
}

// ---------------------------------------------------------------- collection

namespace {

void collect_worker(worker& w, int index, dump_doc& doc) {
  fiber_control* self = current_fiber();
  for (fiber_control* f = w.started_list(); f; f = f->started_next) {
    doc.fibers.emplace_back();
    snapshot_started(f, index, f == self, doc.fibers.back());
  }
}

void collect_unstarted(worker& w, dump_doc& doc) {
  w.spawned().for_each([&](fiber_control* f) {
    if (f->state != fiber_state::created) return;
    fiber_snapshot s;
    s.ptr = f;
    s.id = f->id;
    s.name = f->name;
    s.state = fiber_view_state::unstarted;
    s.stack_lo = static_cast<const char*>(f->ctx.stack_lo);
    s.stack_size = f->stack_size;
    doc.fibers.push_back(std::move(s));
  });
}

void collect_threads(dump_doc& doc) {
  for (thread_parker* t = all_thread_parkers(); t; t = t->all_next) {
    if (!t->in_use.load(std::memory_order_acquire)) continue;
    if (t->wait.kind.load(std::memory_order_acquire) == wait_kind::none) continue;
    thread_snapshot s;
    s.parker = t;
    s.tid = t->tid.load(std::memory_order_relaxed);
    snapshot_wait(t->wait, t, s.wait);
    if (s.wait.kind == wait_kind::none) continue;
    doc.threads.push_back(std::move(s));
  }
}

}  // namespace

// Pauses every worker of every runtime (the caller's own, when it is a fiber, is read directly),
// copies, releases. Holds the registry lock throughout: no runtime is destroyed meanwhile.
void collect_all(dump_doc& doc) {
  prepare_unwinder();
  std::lock_guard reg(runtime_registry_lock());
  worker* me = worker::current();
  const std::uint64_t gen = pause_generation.fetch_add(1, std::memory_order_relaxed) + 1;
  std::vector<worker*> all;
  for (runtime_core* rt : runtime_registry())
    for (auto& w : rt->workers()) all.push_back(w.get());
  const auto t0 = std::chrono::steady_clock::now();
  for (worker* w : all)
    if (w != me) w->request_pause(gen);
  const auto give_up = t0 + pause_timeout;
  for (;;) {
    bool all_paused = true;
    for (worker* w : all)
      if (w != me && !w->paused_for(gen)) all_paused = false;
    if (all_paused || std::chrono::steady_clock::now() >= give_up) break;
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  try {
    doc.runtimes = static_cast<unsigned>(runtime_registry().size());
    int index = 0;
    for (runtime_core* rt : runtime_registry()) {
      for (auto& wp : rt->workers()) {
        worker* w = wp.get();
        const bool readable = w == me || w->paused_for(gen);
        doc.workers.push_back({index, readable});
        if (readable) collect_worker(*w, index, doc);
        collect_unstarted(*w, doc);
        ++index;
      }
    }
    collect_threads(doc);
  } catch (...) {
  }
  doc.pause_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
  dump_release_gen.store(gen, std::memory_order_release);
  wake_word(dump_release_gen);
  for (auto& t : doc.threads) t.name = thread_name(t.tid);
}

namespace {

void dump_to(std::FILE* out, bool json, const char* title);

}  // namespace

void dump_text(std::FILE* out, const char* title) {
  dump_to(out, false, title);
}

namespace {

void dump_to(std::FILE* out, bool json, const char* title) {
  if (!out) return;
  dump_lock one_at_a_time;
  dump_doc doc;
  collect_all(doc);
  std::stable_sort(doc.fibers.begin(), doc.fibers.end(),
                   [](const fiber_snapshot& a, const fiber_snapshot& b) { return a.id < b.id; });
  finish_snapshots(doc);
  on_thread_stack([&] {
    symbolizer sym;
    if (json)
      print_json(out, doc, sym);
    else
      print_text(out, doc, sym, title);
  });
}

}  // namespace

// ---------------------------------------------------------------- environment services

namespace {

sem_t dump_sem;

void on_dump_signal(int) {
  const int saved = errno;
  ::sem_post(&dump_sem);  // async-signal-safe
  errno = saved;
}

int parse_signal(const char* s) {
  if (!s || !*s) return 0;
  if (std::isdigit(static_cast<unsigned char>(*s))) return std::atoi(s);
  std::string name(s);
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  static const struct {
    const char* name;
    int sig;
  } table[] = {{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"QUIT", SIGQUIT},   {"HUP", SIGHUP},
               {"INT", SIGINT},   {"TERM", SIGTERM}, {"WINCH", SIGWINCH}, {"URG", SIGURG}};
  for (const auto& e : table)
    if (name == e.name) return e.sig;
  if (name.rfind("RTMIN+", 0) == 0) return SIGRTMIN + std::atoi(name.c_str() + 6);
  return 0;
}

bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

void dump_at_exit() {
  std::size_t live = 0;
  {
    std::lock_guard reg(runtime_registry_lock());
    for (runtime_core* rt : runtime_registry()) {
      const runtime_stats s = rt->owner->stats();
      live += s.fibers;
    }
  }
  if (live > 0) dump_to(stderr, false, "weft: at exit (WEFT_DUMP_ON_EXIT)");
}

}  // namespace

void start_dump_signal_thread(int sig) {
  ::sem_init(&dump_sem, 0, 0);
  std::thread([] {
    name_current_thread("weft-dump");
    for (;;) {
      if (::sem_wait(&dump_sem) != 0) continue;  // EINTR
      fiber::dump(stderr);
    }
  }).detach();
  struct sigaction sa {};
  sa.sa_handler = on_dump_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  ::sigaction(sig, &sa, nullptr);
}

void start_deadlock_monitor();  // deadlock.cpp

void start_debug_services() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (const char* s = std::getenv("WEFT_DUMP_SIGNAL"); s && *s) {
      if (const int sig = parse_signal(s); sig > 0 && sig < NSIG)
        start_dump_signal_thread(sig);
      else
        std::fprintf(stderr, "weft: WEFT_DUMP_SIGNAL=%s is not a signal; ignored\n", s);
    }
    if (env_on("WEFT_DUMP_ON_EXIT")) std::atexit(dump_at_exit);
    if (deadlock_check_enabled) start_deadlock_monitor();
    if (latency_stats_enabled()) (void)ns_per_tick();  // calibrate now, not on a worker's first switch
  });
}

void dump_abandoned(runtime_core& rt) noexcept {
  if (!env_on("WEFT_DUMP_ON_EXIT") || !rt.owner) return;
  try {
    if (rt.owner->stats().fibers > 0)
      dump_to(stderr, false, "weft: runtime destroyed with fibers alive (WEFT_DUMP_ON_EXIT)");
  } catch (...) {
  }
}

}  // namespace fiber::detail

namespace fiber {

void dump(std::FILE* out) {
  detail::dump_to(out, false, "weft: fiber dump");
}

void dump_json(std::FILE* out) {
  detail::dump_to(out, true, nullptr);
}

}  // namespace fiber
