#include <fiber/detail/overflow_guard.hpp>

#include <fiber/detail/fiber_control.hpp>
#include <fiber/detail/stack_pool.hpp>
#include <fiber/detail/worker.hpp>

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace fiber::detail {

namespace {

struct sigaction previous_segv;
struct sigaction previous_bus;
constexpr std::size_t altstack_size = 64 * 1024;

void write_str(const char* s) noexcept {
  [[maybe_unused]] auto r = ::write(STDERR_FILENO, s, std::strlen(s));
}

void write_num(unsigned long long v) noexcept {
  char buf[24];
  int i = sizeof buf;
  buf[--i] = '\0';
  do {
    buf[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v && i > 0);
  write_str(buf + i);
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
  worker* w = worker::current();
  fiber_control* f = w ? w->running() : nullptr;
  if (f && f->stack && in_guard_page(f->stack, info->si_addr)) {
    write_str("weft: stack overflow in fiber ");
    if (!f->name.empty()) {
      write_str("'");
      write_str(f->name.c_str());
      write_str("' (id ");
    } else {
      write_str("(id ");
    }
    write_num(f->id);
    write_str("), stack size ");
    write_num(f->stack_size);
    write_str(" bytes; raise it with spawn_options::stack_size or runtime_options::stack_size\n");
    ::signal(SIGABRT, SIG_DFL);
    std::abort();
  }
  // Not ours: hand over to whoever was installed before, else the default action.
  struct sigaction& prev = sig == SIGBUS ? previous_bus : previous_segv;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) return prev.sa_sigaction(sig, info, uctx);
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler) {
    return prev.sa_handler(sig);
  }
  ::signal(sig, SIG_DFL);  // returning re-executes the faulting instruction: default action
}

void install_handler() {
  struct sigaction sa {};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGSEGV, &sa, &previous_segv);
  ::sigaction(SIGBUS, &sa, &previous_bus);
}

}  // namespace

overflow_guard::overflow_guard() {
  static std::once_flag once;
  std::call_once(once, install_handler);
  void* mem = ::mmap(nullptr, altstack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;
  stack_t ss{};
  ss.ss_sp = mem;
  ss.ss_size = altstack_size;
  if (::sigaltstack(&ss, nullptr) == 0) {
    altstack_ = mem;
  } else {
    ::munmap(mem, altstack_size);
  }
}

overflow_guard::~overflow_guard() {
  if (!altstack_) return;
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  ::sigaltstack(&ss, nullptr);
  ::munmap(altstack_, altstack_size);
}

}  // namespace fiber::detail
