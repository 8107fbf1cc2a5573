// cpu_posix.cpp — os/cpu.hpp on BSD and macOS: the online CPU count (no affinity masks or cgroup
// quotas to honour), no pinning (macOS has no affinity API), pthread naming in each system's form.
#include <fiber/detail/os/cpu.hpp>

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

std::vector<int> allowed_cpus() { return {}; }

void pin_current_thread(int) noexcept {}

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

}  // namespace fiber::detail
