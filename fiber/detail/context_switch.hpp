// context_switch.hpp — the one place where weft changes stacks.
//
// Owns: the raw fcontext jump (weft's own ret-based one on x86-64 ELF, context_switch_x86_64_sysv.S;
// Boost.Context's elsewhere or with -DWEFT_OWN_CONTEXT_SWITCH=OFF), plus the hooks that let tools follow it:
// ASan (__sanitizer_start/finish_switch_fiber), TSan (__tsan_*_fiber) and valgrind (stack
// registration lives in stack_pool.cpp). Every switch in weft goes through jump() below.
//
// Invariant: an exec_context's `handle` is valid only while that context is suspended. fcontext
// hands the suspended handle of the context we left to the context we resume, so the *resumed*
// side stores it (worker::after_switch) — never the side that jumps.
#pragma once

#include <fiber/detail/exec_context.hpp>
#include <fiber/detail/sanitizers.hpp>

#include <boost/context/detail/fcontext.hpp>

#include <cstddef>
#include <type_traits>

#ifdef WEFT_ASAN
extern "C" void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, std::size_t size);
extern "C" void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old, std::size_t* size_old);
#endif
#ifdef WEFT_ASAN
extern "C" void __asan_unpoison_memory_region(void const volatile* addr, std::size_t size);
#endif
#ifdef WEFT_TSAN
extern "C" void* __tsan_get_current_fiber(void);
extern "C" void* __tsan_create_fiber(unsigned flags);
extern "C" void __tsan_destroy_fiber(void* fiber);
extern "C" void __tsan_switch_to_fiber(void* fiber, unsigned flags);
#endif

namespace fiber::detail {

namespace bctx = boost::context::detail;

static_assert(std::is_same_v<bctx::fcontext_t, void*>, "exec_context stores an fcontext_t as void*");

using entry_fn = void (*)(bctx::transfer_t);

#ifdef WEFT_OWN_CONTEXT_SWITCH
// x86-64 System V: Boost's layout, resumed with `ret` (context_switch_x86_64_sysv.S says why).
extern "C" bctx::transfer_t weft_jump_context(bctx::fcontext_t to, void* data);
extern "C" bctx::fcontext_t weft_make_context(void* top, std::size_t size, entry_fn entry);
inline bctx::transfer_t raw_jump(bctx::fcontext_t to, void* data) {
  return weft_jump_context(to, data);
}
inline bctx::fcontext_t raw_make(void* top, std::size_t size, entry_fn entry) {
  return weft_make_context(top, size, entry);
}
#else
inline bctx::transfer_t raw_jump(bctx::fcontext_t to, void* data) {
  return bctx::jump_fcontext(to, data);
}
inline bctx::fcontext_t raw_make(void* top, std::size_t size, entry_fn entry) {
  return bctx::make_fcontext(top, size, entry);
}
#endif

// Prepares `ctx` to start at `entry` on the stack [lo, lo + size).
inline void make_context(exec_context& ctx, void* lo, std::size_t size, entry_fn entry) {
#ifdef WEFT_ASAN
  // A recycled stack still carries the poisoned redzones of its previous fiber's last frames.
  __asan_unpoison_memory_region(lo, size);
#endif
  ctx.stack_lo = lo;
  ctx.stack_size = size;
  ctx.handle = raw_make(static_cast<char*>(lo) + size, size, entry);
#ifdef WEFT_TSAN
  ctx.tsan_fiber = __tsan_create_fiber(0);
#endif
}

// Describes the calling OS thread's own stack as a context (its handle is filled when it is left).
void adopt_thread_context(exec_context& ctx);

inline void destroy_context(exec_context& ctx) {
#ifdef WEFT_TSAN
  if (ctx.tsan_fiber) __tsan_destroy_fiber(ctx.tsan_fiber);
  ctx.tsan_fiber = nullptr;
#endif
  (void)ctx;
}

// Leaves the running context for `to`, passing `data`. Returns what the context that later
// resumes us passed. `leaving_for_good` tells ASan the stack we leave is finished.
inline bctx::transfer_t jump(exec_context& to, void* data, bool leaving_for_good = false) {
#ifdef WEFT_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(leaving_for_good ? nullptr : &fake_stack, to.stack_lo, to.stack_size);
#else
  (void)leaving_for_good;
#endif
#ifdef WEFT_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
  bctx::transfer_t t = raw_jump(to.handle, data);
#ifdef WEFT_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
  return t;
}

// First statement of every new context's entry function.
inline void on_context_start() {
#ifdef WEFT_ASAN
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
}

}  // namespace fiber::detail
