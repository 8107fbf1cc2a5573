// original.cpp — dlsym(RTLD_NEXT) lookups for hook/original.hpp, and the guarded lookups' per-thread flag.
#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <hook/original.hpp>

namespace weft::hook::detail {

void* resolve_next(const char* name) noexcept {
  void* p = ::dlsym(RTLD_NEXT, name);
  if (!p) {
    // No stdio here: it may not be usable yet, and it may call back into hooked functions.
    static const char prefix[] = "weft_hook: cannot resolve libc symbol ";
    ::syscall(SYS_write, 2, prefix, sizeof prefix - 1);
    ::syscall(SYS_write, 2, name, std::strlen(name));
    ::syscall(SYS_write, 2, "\n", 1);
    std::abort();
  }
  return p;
}

namespace {
thread_local bool tls_resolving_guarded = false;
}

bool resolving_guarded() noexcept {
  return tls_resolving_guarded;
}

void* guarded_resolve_next(const char* name) noexcept {
  const bool outer = tls_resolving_guarded;  // a nested guarded lookup must not clear the outer one's guard
  tls_resolving_guarded = true;
  void* p = resolve_next(name);
  tls_resolving_guarded = outer;
  return p;
}

}  // namespace weft::hook::detail
