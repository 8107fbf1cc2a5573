// misuse.hpp — what a sync/ type does with a call the standard leaves undefined (unlocking a mutex
// the caller does not hold, destroying a locked mutex, releasing a semaphore past max(), ...).
//
// report_misuse prints one line naming the type, the problem and the calling fiber or thread —
//   weft: misuse of fiber::mutex: unlock() by a fiber/thread that does not own the lock (caller: fiber 'w' (id 7))
// — once per kind of problem per process, and returns: the type then does the harmless thing the
// std implementation does (glibc unlocks, ignores, or releases anyway), so a program that gets away
// with it on std:: types keeps running on fiber:: ones. WEFT_MISUSE_ABORT=1 in the environment makes
// every report fatal (abort), for debugging. fatal_misuse is for the few cases where going on
// would corrupt memory (a channel destroyed under blocked waiters).
#pragma once

namespace fiber::detail {

void report_misuse(const char* type, const char* what) noexcept;
[[noreturn]] void fatal_misuse(const char* type, const char* what) noexcept;

}  // namespace fiber::detail
