// original.hpp — the libc functions the hooks interpose, found with dlsym(RTLD_NEXT).
//
// Owns: one lazily resolved pointer per interposed function. Invariants: a pointer is resolved on
// first use (from any thread, even during early startup before main or while another library's
// constructors run); concurrent first uses race benignly (both store the same value). dlsym never
// returns one of our own hooks because RTLD_NEXT searches only the objects loaded after us. If a
// symbol cannot be found the process aborts with a message: there is no safe fallback.
//
// Functions dlsym itself may call (pthread_mutex_*: it takes glibc's loader lock) are resolved with
// the guarded form: while this thread is inside a guarded lookup, a nested call of a guarded
// function that is not resolved yet gets its `fallback` (uncached) instead of recursing into dlsym.
// A guarded function without a fallback (null) is resolved normally even then.
//
//   ssize_t n = WEFT_ORIG(read)(fd, buf, len);
//   int rc = WEFT_ORIG_GUARDED(pthread_mutex_lock, &glibc_alias)(m);
#pragma once

#include <atomic>

namespace weft::hook::detail {

// Resolves `name` in the objects after this one (libc). Never returns null (aborts instead).
void* resolve_next(const char* name) noexcept;

// True while this thread runs a guarded lookup (set and restored by guarded_resolve_next).
bool resolving_guarded() noexcept;
// resolve_next(name) with this thread's guard set for its duration.
void* guarded_resolve_next(const char* name) noexcept;

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

// A function pointer type without the attributes (nonnull, ...) a libc declaration attaches to it,
// which a template argument cannot carry: decltype(plain_fn(&::name)).
template <class R, class... A>
auto plain_fn(R (*)(A...) noexcept) -> R (*)(A...) noexcept;
template <class R, class... A>
auto plain_fn(R (*)(A...)) -> R (*)(A...);

template <class Fn>
struct guarded_original {
  const char* name;
  Fn fallback;  // served, uncached, to a call nested in this thread's own guarded lookup (null: none)
  std::atomic<void*> fn{nullptr};
  Fn get() noexcept {
    void* f = fn.load(std::memory_order_acquire);
    if (!f) {
      if (fallback && resolving_guarded()) return fallback;  // dlsym called back into a hook
      f = guarded_resolve_next(name);
      fn.store(f, std::memory_order_release);
    }
    return reinterpret_cast<Fn>(f);
  }
};

}  // namespace weft::hook::detail

// libc's `name`, typed like the system header's declaration of it (resolved once, then cached).
// Each use site has its own cache: wrap it in an inline function to share one (and resolve it early).
#define WEFT_ORIG(name)                                \
  (reinterpret_cast<decltype(&::name)>([]() noexcept { \
    static ::weft::hook::detail::original o{#name};    \
    return o.get();                                    \
  }()))

// The same for a function dlsym may call back: `fallback` (a function of the same type, or nullptr)
// answers a call made while this thread resolves a guarded function. Constant-initialised: no guard
// variable (whose slow path may lock a mutex) stands before the cache.
#define WEFT_ORIG_GUARDED(name, fallback)                                                                         \
  ([]() noexcept {                                                                                                \
    static constinit ::weft::hook::detail::guarded_original<decltype(::weft::hook::detail::plain_fn(&::name))> o{ \
        #name, fallback};                                                                                         \
    return o.get();                                                                                               \
  }())
