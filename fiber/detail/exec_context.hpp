// exec_context.hpp — a suspendable execution context: a fiber's stack, or a worker thread's own.
// Only data: the switching code (Boost.Context, sanitizer hooks) is in context_switch.hpp, which
// only weft's own .cpp files include — public headers see this plain struct.
#pragma once

#include <cstddef>

namespace fiber::detail {

struct exec_context {
  void* handle = nullptr;          // the suspended context (Boost.Context fcontext_t); valid while suspended
  const void* stack_lo = nullptr;  // lowest usable address (for ASan)
  std::size_t stack_size = 0;
  void* tsan_fiber = nullptr;  // TSan's handle for this context
};

}  // namespace fiber::detail
