// cpu_linux.cpp — os/cpu.hpp on Linux: sched_getaffinity, the cgroup v2 cpu.max quota,
// pthread_setaffinity_np, pthread_setname_np, gettid.
#include <fiber/detail/os/cpu.hpp>

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

namespace fiber::detail {

unsigned usable_cpu_count() noexcept {
  unsigned cpus = std::thread::hardware_concurrency();
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) cpus = static_cast<unsigned>(CPU_COUNT(&set));
  // cgroup v2 CPU quota: "max 100000" or "<quota> <period>".
  std::ifstream in("/sys/fs/cgroup/cpu.max");
  std::string quota;
  long period = 0;
  if (in >> quota >> period && quota != "max" && period > 0) {
    const long q = std::atol(quota.c_str());
    if (q > 0) {
      auto limit = static_cast<unsigned>(std::ceil(static_cast<double>(q) / static_cast<double>(period)));
      if (limit < cpus) cpus = limit;
    }
  }
  return cpus ? cpus : 1;
}

std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

void pin_current_thread(int cpu) noexcept {
  if (cpu < 0 || cpu >= CPU_SETSIZE) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
}

bool current_thread_stack(void*& lo, std::size_t& size) noexcept {
  pthread_attr_t attr;
  if (::pthread_getattr_np(::pthread_self(), &attr) != 0) return false;
  const bool ok = ::pthread_attr_getstack(&attr, &lo, &size) == 0;
  ::pthread_attr_destroy(&attr);
  return ok;
}

void name_current_thread(const char* name) noexcept {
  char shortened[16];
  std::snprintf(shortened, sizeof shortened, "%s", name);
  ::pthread_setname_np(::pthread_self(), shortened);
}

int current_thread_id() noexcept {
  return static_cast<int>(::syscall(SYS_gettid));
}

}  // namespace fiber::detail
