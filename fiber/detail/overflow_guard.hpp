// overflow_guard.hpp — turns a fiber stack overflow into a clear report instead of a bare SIGSEGV.
//
// Each fiber stack's lowest page is a guard (stack_pool.hpp). A fault there runs our SIGSEGV
// handler on a per-worker alternate signal stack (the fiber's own stack is exhausted, so without
// it the handler could not run). If the faulting address is in the running fiber's guard page, the
// handler writes "weft: stack overflow in fiber 'name' (id N), stack size S bytes" to stderr and
// aborts; any other fault goes to the handler that was installed before ours (or the default).
#pragma once

namespace fiber::detail {

class overflow_guard {
 public:
  overflow_guard();   // installs the process handler once and this thread's alternate stack
  ~overflow_guard();  // removes this thread's alternate stack
  overflow_guard(const overflow_guard&) = delete;
  overflow_guard& operator=(const overflow_guard&) = delete;

 private:
  void* altstack_ = nullptr;
};

}  // namespace fiber::detail
