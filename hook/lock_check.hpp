// lock_check.hpp — the detector's entry for hooks that park (WEFT_HOOK_LOCK_CHECK=1).
//
// Owns nothing: pthread_hooks.cpp counts the pthread mutexes each fiber holds; every hooked call
// about to park its fiber (a blocking read/write/accept/connect, poll/select/epoll_wait, a sleep)
// calls note_blocking_call first, which names a fiber that parks while holding one — once per
// fiber, on stderr. With the detector off it is one load of a bool.
#pragma once

namespace weft::hook::detail {

void note_blocking_call(const char* call) noexcept;

}  // namespace weft::hook::detail
