// backtrace.cpp — unwinding suspended fiber contexts and symbolizing program counters
// (fiber/detail/backtrace.hpp).
//
// Both libraries are loaded with dlopen(RTLD_LOCAL), never linked: libunwind.so.8 exports its own
// _Unwind_* functions, and linking it could hand C++ exceptions to a different unwinder; libdw is
// large and only a dump needs it. Neither is required: without them, frame pointers and dladdr.
#include <fiber/detail/backtrace.hpp>

#include <fiber/detail/sanitizers.hpp>

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#if defined(__x86_64__) && __has_include(<libunwind.h>)
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <ucontext.h>
#define WEFT_HAVE_LIBUNWIND_HEADER 1
#endif

namespace fiber::detail {

namespace {

// ---------------------------------------------------------------- libunwind (dlopen)

#ifdef WEFT_HAVE_LIBUNWIND_HEADER
struct unwind_api {
  decltype(&unw_init_local) init_local = nullptr;
  decltype(&unw_step) step = nullptr;
  decltype(&unw_get_reg) get_reg = nullptr;
};
unwind_api uw;
#endif
std::once_flag unwinder_once;
std::atomic<bool> have_libunwind{false};

void load_unwinder() noexcept {
#ifdef WEFT_HAVE_LIBUNWIND_HEADER
  if (const char* env = std::getenv("WEFT_UNWINDER"); env && std::strcmp(env, "fp") == 0) return;
  void* h = ::dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (!h) return;
  uw.init_local = reinterpret_cast<decltype(uw.init_local)>(::dlsym(h, "_ULx86_64_init_local"));
  uw.step = reinterpret_cast<decltype(uw.step)>(::dlsym(h, "_ULx86_64_step"));
  uw.get_reg = reinterpret_cast<decltype(uw.get_reg)>(::dlsym(h, "_ULx86_64_get_reg"));
  if (uw.init_local && uw.step && uw.get_reg) have_libunwind.store(true, std::memory_order_release);
#endif
}

bool in_range(std::uintptr_t p, std::uintptr_t lo, std::uintptr_t hi) noexcept {
  return p >= lo && p < hi;
}

// The frame-pointer walk reads raw stack words of another context: not instrumented (ASan would
// flag its own redzones there, TSan a "race" that the dump pause already orders).
WEFT_NO_SANITIZE void walk_frame_pointers(std::uintptr_t pc, std::uintptr_t fp, std::uintptr_t lo, std::uintptr_t hi,
                                          raw_backtrace& out) noexcept {
  out.pc[out.n++] = pc;
  while (out.n < raw_backtrace::max_frames && in_range(fp, lo, hi - 16) && (fp & 7) == 0) {
    const auto* frame = reinterpret_cast<const std::uintptr_t*>(fp);
    const std::uintptr_t next = frame[0], ret = frame[1];
    if (ret == 0) break;
    out.pc[out.n++] = ret;
    if (next <= fp) break;  // stacks grow down: callers' frames are higher
    fp = next;
  }
}

}  // namespace

void prepare_unwinder() noexcept {
  std::call_once(unwinder_once, load_unwinder);
}

const char* unwinder_name() noexcept {
#if defined(__x86_64__)
  prepare_unwinder();
  return have_libunwind.load(std::memory_order_acquire) ? "libunwind" : "frame pointers";
#else
  return "none";
#endif
}

// Boost.Context's x86-64 SysV jump_fcontext (and weft's twin, weft_jump_context) leaves, at the saved handle: mxcsr/x87
// cw at +0, r12 +0x8, r13 +0x10, r14 +0x18, r15 +0x20, rbx +0x28, rbp +0x30, the return address +0x38; the suspended
// frame's stack pointer after its return is handle + 0x40 (tools/weft-gdb.py agrees).
WEFT_NO_SANITIZE void unwind_suspended(const void* handle, const void* stack_lo, const void* stack_hi,
                                       raw_backtrace& out) noexcept {
  out.n = 0;
#if defined(__x86_64__)
  if (!handle) return;
  const auto h = reinterpret_cast<std::uintptr_t>(handle);
  const auto lo = reinterpret_cast<std::uintptr_t>(stack_lo), hi = reinterpret_cast<std::uintptr_t>(stack_hi);
  if (!in_range(h, lo, hi - 0x40)) return;
  const auto* saved = reinterpret_cast<const std::uintptr_t*>(h);
  prepare_unwinder();
#ifdef WEFT_HAVE_LIBUNWIND_HEADER
  if (have_libunwind.load(std::memory_order_acquire)) {
    unw_context_t uc;
    std::memset(&uc, 0, sizeof uc);
    auto& g = uc.uc_mcontext.gregs;
    g[REG_R12] = static_cast<greg_t>(saved[1]);
    g[REG_R13] = static_cast<greg_t>(saved[2]);
    g[REG_R14] = static_cast<greg_t>(saved[3]);
    g[REG_R15] = static_cast<greg_t>(saved[4]);
    g[REG_RBX] = static_cast<greg_t>(saved[5]);
    g[REG_RBP] = static_cast<greg_t>(saved[6]);
    g[REG_RIP] = static_cast<greg_t>(saved[7]);
    g[REG_RSP] = static_cast<greg_t>(h) + 0x40;
    unw_cursor_t cursor;
    if (uw.init_local(&cursor, &uc) == 0) {
      do {
        unw_word_t ip = 0, sp = 0;
        if (uw.get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
        uw.get_reg(&cursor, UNW_REG_SP, &sp);
        if (out.n > 0 && !in_range(sp, lo, hi)) break;  // left the fiber's stack: its entry is done
        out.pc[out.n++] = ip;
      } while (out.n < raw_backtrace::max_frames && uw.step(&cursor) > 0);
      if (out.n > 0) return;
    }
  }
#endif
  walk_frame_pointers(saved[7], saved[6], lo, hi, out);
#else
  (void)handle;
  (void)stack_lo;
  (void)stack_hi;
#endif
}

void unwind_current(raw_backtrace& out) noexcept {
  void* frames[raw_backtrace::max_frames + 1];
  const int n = ::backtrace(frames, static_cast<int>(raw_backtrace::max_frames + 1));
  out.n = 0;
  for (int i = 1; i < n; ++i) out.pc[out.n++] = reinterpret_cast<std::uintptr_t>(frames[i]);
}

// ---------------------------------------------------------------- symbols

namespace {

// The few libdw (elfutils) entry points used, declared here so that no elfutils headers are needed
// to build weft. Their ABI has been stable since elfutils 0.1xx.
struct dwfl_callbacks {
  void* find_elf;
  void* find_debuginfo;
  void* section_address;
  char** debuginfo_path;
};
struct dw_api {
  void* (*begin)(const dwfl_callbacks*) = nullptr;
  void (*end)(void*) = nullptr;
  int (*linux_proc_report)(void*, pid_t) = nullptr;
  void (*report_begin)(void*) = nullptr;
  int (*report_end)(void*, int (*)(void*, void*, const char*, std::uint64_t, void*), void*) = nullptr;
  void* (*addrmodule)(void*, std::uint64_t) = nullptr;
  const char* (*module_addrname)(void*, std::uint64_t) = nullptr;
  void* (*module_getsrc)(void*, std::uint64_t) = nullptr;
  const char* (*lineinfo)(void*, std::uint64_t*, int*, int*, int*, const char**) = nullptr;
  const char* (*module_info)(void*, void***, std::uint64_t*, std::uint64_t*, std::uint64_t*, std::uint64_t*,
                             const char**, const char**) = nullptr;
  void* find_elf = nullptr;
  void* find_debuginfo = nullptr;
  bool ok = false;
};
dw_api dw;
std::once_flag dw_once;
char* dw_debuginfo_path = nullptr;

template <class F>
void sym(void* h, F& f, const char* name) {
  f = reinterpret_cast<F>(::dlsym(h, name));
}

void load_libdw() noexcept {
  if (const char* env = std::getenv("WEFT_SYMBOLIZER"); env && std::strcmp(env, "dladdr") == 0) return;
  void* h = ::dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) return;
  sym(h, dw.begin, "dwfl_begin");
  sym(h, dw.end, "dwfl_end");
  sym(h, dw.linux_proc_report, "dwfl_linux_proc_report");
  sym(h, dw.report_begin, "dwfl_report_begin");
  sym(h, dw.report_end, "dwfl_report_end");
  sym(h, dw.addrmodule, "dwfl_addrmodule");
  sym(h, dw.module_addrname, "dwfl_module_addrname");
  sym(h, dw.module_getsrc, "dwfl_module_getsrc");
  sym(h, dw.lineinfo, "dwfl_lineinfo");
  sym(h, dw.module_info, "dwfl_module_info");
  dw.find_elf = ::dlsym(h, "dwfl_linux_proc_find_elf");
  dw.find_debuginfo = ::dlsym(h, "dwfl_standard_find_debuginfo");
  dw.ok = dw.begin && dw.end && dw.linux_proc_report && dw.report_begin && dw.report_end && dw.addrmodule &&
          dw.module_addrname && dw.module_getsrc && dw.lineinfo && dw.module_info && dw.find_elf && dw.find_debuginfo;
}

std::string demangle(const char* name) {
  if (!name) return {};
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || !d) return name;
  std::string out(d);
  std::free(d);
  return out;
}

}  // namespace

symbolizer::symbolizer() {
  std::call_once(dw_once, load_libdw);
  if (!dw.ok) return;
  static dwfl_callbacks callbacks{dw.find_elf, dw.find_debuginfo, nullptr, &dw_debuginfo_path};
  dwfl_ = dw.begin(&callbacks);
  if (!dwfl_) return;
  dw.report_begin(dwfl_);
  if (dw.linux_proc_report(dwfl_, ::getpid()) != 0 || dw.report_end(dwfl_, nullptr, nullptr) != 0) {
    dw.end(dwfl_);
    dwfl_ = nullptr;
  }
}

symbolizer::~symbolizer() {
  if (dwfl_) dw.end(dwfl_);
}

const char* symbolizer::backend() const noexcept {
  return dwfl_ ? "libdw" : "dladdr";
}

symbolizer::frame symbolizer::resolve(std::uintptr_t pc, bool return_address) {
  const std::uintptr_t at = return_address && pc > 0 ? pc - 1 : pc;
  auto it = cache_.find(at);
  if (it != cache_.end()) return it->second;
  frame f = lookup(at);
  cache_.emplace(at, f);
  return f;
}

symbolizer::frame symbolizer::lookup(std::uintptr_t at) {
  frame f;
  if (dwfl_) {
    if (void* mod = dw.addrmodule(dwfl_, at)) {
      if (const char* name = dw.module_addrname(mod, at)) f.function = demangle(name);
      if (void* line = dw.module_getsrc(mod, at)) {
        int lineno = 0;
        if (const char* file = dw.lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
          f.file = file;
          f.line = lineno;
        }
      }
      if (f.file.empty()) {
        std::uint64_t start = 0;
        const char* mname = dw.module_info(mod, nullptr, &start, nullptr, nullptr, nullptr, nullptr, nullptr);
        if (mname) f.file = mname;
        f.offset = at - start;
      }
      return f;
    }
  }
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(at), &info) != 0) {
    if (info.dli_sname) f.function = demangle(info.dli_sname);
    if (info.dli_fname) f.file = info.dli_fname;
    f.offset = at - reinterpret_cast<std::uintptr_t>(info.dli_fbase);
  }
  return f;
}

bool is_switch_frame(const std::string& fn) noexcept {
  static constexpr const char* prefixes[] = {
      "fiber::detail::worker::switch_away",
      "fiber::detail::worker::park_current",
      "fiber::detail::(anonymous namespace)::park_fiber",
      "fiber::detail::park_until",
      "fiber::detail::park(",
      "fiber::detail::jump",
      "jump_fcontext",
      "weft_jump_context",
  };
  for (const char* p : prefixes)
    if (fn.compare(0, std::strlen(p), p) == 0) return true;
  return false;
}

}  // namespace fiber::detail
