// fork_support.hpp — what a child of fork() gets from a process running weft.
//
// The rule is POSIX's for threads, applied to fibers: only the caller of fork() goes on in the
// child. When the caller is a fiber it keeps running there, on its worker; every other fiber of the
// parent is gone from the child — never resumed, its stack simply copied, as another thread's is.
// Every runtime is rebuilt in the child before fork() returns (a pthread_atfork child handler):
// new threads for the workers whose threads did not survive, new pollers (the child closes its copy
// of the epoll/eventfd descriptors without touching the parent's registrations, so no kernel object
// is shared), empty run queues, spawn queues and timer heaps, a new blocking pool and watchdog.
// Sockets register again with the child's pollers on their next wait (poll_descriptor checks the
// fork epoch). A wake-up of a parent's fiber in the child — it was waiting on an object the child
// later signals — is dropped: that fiber is not there. weft's own internal locks are taken around
// fork() so that they are consistent in both processes; locks that *other* fibers or threads held at
// that moment stay held in the child, as pthread mutexes do.
//
// Layers register their own repair work (net: descriptors with operations of dead fibers in
// flight; hook: the descriptor table) with register_fork_handler(). Prepare handlers run from the
// highest layer down (the order in which code nests their locks: hook, net, fiber), parent and
// child handlers from the lowest layer up (the child's runtimes exist before net repairs sockets).
#pragma once

#include <cstdint>

namespace fiber::detail {

// Incremented in every child: state stamped with an older epoch belongs to the parent.
std::uint32_t fork_epoch() noexcept;

struct fork_handler {
  int layer = 0;                         // 0 fiber, 1 net, 2 hook
  void (*prepare)() noexcept = nullptr;  // parent, before fork: take the layer's locks
  void (*parent)() noexcept = nullptr;   // parent, after fork: release them
  void (*child)() noexcept = nullptr;    // child, after fork (single-threaded): release and repair
};
// Idempotent per handler; the pthread_atfork hooks are installed on the first call.
void register_fork_handler(const fork_handler& h) noexcept;

}  // namespace fiber::detail
