// original.cpp — dlsym(RTLD_NEXT) lookups for hook/original.hpp.
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

}  // namespace weft::hook::detail
