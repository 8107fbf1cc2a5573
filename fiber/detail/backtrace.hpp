// backtrace.hpp — backtraces of suspended fibers and their symbols, for fiber::dump() and the
// deadlock report (see fiber/debug.hpp for the choices: libunwind from the saved registers, else a
// frame-pointer walk; symbols from libdw, else dladdr).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace fiber::detail {

struct raw_backtrace {
  static constexpr unsigned max_frames = 40;
  std::uintptr_t pc[max_frames] = {};
  unsigned n = 0;
};

// Loads libunwind once (dlopen). Call before pausing workers: dlopen takes the loader lock.
void prepare_unwinder() noexcept;
// "libunwind" or "frame pointers" (or "none" where suspended contexts cannot be read).
const char* unwinder_name() noexcept;

// Unwinds a suspended context: `handle` is its saved fcontext, [stack_lo, stack_hi) its stack.
// Only while that context cannot resume (its fiber parked on a paused worker, or deadlocked).
void unwind_suspended(const void* handle, const void* stack_lo, const void* stack_hi, raw_backtrace& out) noexcept;
// The calling thread's own stack (skipping this call).
void unwind_current(raw_backtrace& out) noexcept;

// Turns program counters into "function at file:line" (libdw) or "function (module+0x...)".
class symbolizer {
 public:
  symbolizer();
  ~symbolizer();
  symbolizer(const symbolizer&) = delete;
  symbolizer& operator=(const symbolizer&) = delete;
  struct frame {
    std::string function;  // demangled, or empty
    std::string file;      // source file, or the module when there is no line info
    int line = 0;
    std::uintptr_t offset = 0;  // in the module, when neither function nor line is known
  };
  // `return_address`: pc is where a call returns to (every frame but a signal frame's): look up pc-1.
  frame resolve(std::uintptr_t pc, bool return_address = true);
  const char* backend() const noexcept;  // "libdw" or "dladdr"

 private:
  frame lookup(std::uintptr_t at);
  void* dwfl_ = nullptr;
  std::unordered_map<std::uintptr_t, frame> cache_;  // fibers parked alike share their frames
};

// Frames of weft's own switching machinery (worker::switch_away, park_fiber, ...) that every parked
// backtrace starts with: the dump leaves them out.
bool is_switch_frame(const std::string& function) noexcept;

}  // namespace fiber::detail
