// cpu.hpp — what the platform says about CPUs and threads: how many CPUs this process may use,
// which ones, pinning a thread to one, naming a thread (debuggers and `top -H` show the name).
#pragma once

#include <cstddef>
#include <vector>

namespace fiber::detail {

// CPUs this process may run on: the affinity mask, capped by a cgroup CPU quota where there is one.
unsigned usable_cpu_count() noexcept;
// The CPU numbers of the affinity mask, in order (empty if the platform has no affinity API).
std::vector<int> allowed_cpus();
// Best effort: pins the calling thread to `cpu` (no-op where unsupported).
void pin_current_thread(int cpu) noexcept;
// Best effort: names the calling thread (at most 15 characters are kept on Linux).
void name_current_thread(const char* name) noexcept;
// The kernel's id of the calling thread (Linux: gettid(), the tid in /proc and in gdb; elsewhere a
// per-process number that is unique while the thread lives). Dumps name waiting threads by it.
int current_thread_id() noexcept;
// The calling thread's stack: lowest address and size (for sanitizers' view of the worker's own
// context). False if the platform cannot tell.
bool current_thread_stack(void*& lo, std::size_t& size) noexcept;

}  // namespace fiber::detail
