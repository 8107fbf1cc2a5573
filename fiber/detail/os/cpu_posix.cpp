// cpu_posix.cpp — os/cpu.hpp on BSD and macOS: the online CPU count (no affinity masks or cgroup
// quotas to honour), no pinning (macOS has no affinity API), pthread naming in each system's form.
#include <fiber/detail/os/cpu.hpp>

#include <atomic>
#include <cstdint>

#include <pthread.h>
#include <unistd.h>
#if defined(__FreeBSD__) || defined(__OpenBSD__)
#include <pthread_np.h>
#endif

namespace fiber::detail {

unsigned usable_cpu_count() noexcept {
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1;
}

std::vector<int> allowed_cpus() {
  return {};
}

void pin_current_thread(int) noexcept {}

bool current_thread_stack(void*& lo, std::size_t& size) noexcept {
#if defined(__APPLE__)
  // macOS reports the stack's top (highest address) and its size.
  char* top = static_cast<char*>(::pthread_get_stackaddr_np(::pthread_self()));
  size = ::pthread_get_stacksize_np(::pthread_self());
  lo = top - size;
  return true;
#elif defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
  pthread_attr_t attr;
  ::pthread_attr_init(&attr);
  const bool ok =
      ::pthread_attr_get_np(::pthread_self(), &attr) == 0 && ::pthread_attr_getstack(&attr, &lo, &size) == 0;
  ::pthread_attr_destroy(&attr);
  return ok;
#else
  (void)lo;
  (void)size;
  return false;
#endif
}

void name_current_thread(const char* name) noexcept {
#if defined(__APPLE__)
  ::pthread_setname_np(name);  // macOS names only the calling thread
#elif defined(__FreeBSD__) || defined(__OpenBSD__)
  ::pthread_set_name_np(::pthread_self(), name);
#elif defined(__NetBSD__)
  ::pthread_setname_np(::pthread_self(), "%s", const_cast<char*>(name));
#else
  (void)name;
#endif
}

int current_thread_id() noexcept {
#if defined(__APPLE__)
  std::uint64_t id = 0;
  ::pthread_threadid_np(nullptr, &id);
  return static_cast<int>(id);
#else
  static std::atomic<int> next{1};  // a number per thread, given on first use
  thread_local const int mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine;
#endif
}

}  // namespace fiber::detail
