// original.hpp — the libc functions the hooks interpose, found with dlsym(RTLD_NEXT).
//
// Owns: one lazily resolved pointer per interposed function. Invariants: a pointer is resolved on
// first use (from any thread, even during early startup before main or while another library's
// constructors run); concurrent first uses race benignly (both store the same value). dlsym never
// returns one of our own hooks because RTLD_NEXT searches only the objects loaded after us. If a
// symbol cannot be found the process aborts with a message: there is no safe fallback.
//
//   ssize_t n = WEFT_ORIG(read)(fd, buf, len);
#pragma once

#include <atomic>

namespace weft::hook::detail {

// Resolves `name` in the objects after this one (libc). Never returns null (aborts instead).
void* resolve_next(const char* name) noexcept;

struct original {
  const char* name;
  std::atomic<void*> fn{nullptr};
  void* get() noexcept {
    void* f = fn.load(std::memory_order_acquire);
    if (!f) {
      f = resolve_next(name);
      fn.store(f, std::memory_order_release);
    }
    return f;
  }
};

}  // namespace weft::hook::detail

// libc's `name`, typed like the system header's declaration of it (resolved once, then cached).
#define WEFT_ORIG(name)                                                 \
  (reinterpret_cast<decltype(&::name)>([]() noexcept {                  \
    static ::weft::hook::detail::original o{#name};                     \
    return o.get();                                                     \
  }()))
