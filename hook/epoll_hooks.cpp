// epoll_hooks.cpp — epoll_wait and epoll_pwait.
//
// Owns: waiting on a program's own epoll instance from a fiber. An epoll descriptor is itself
// pollable (readable while its ready list is non-empty), so a blocking epoll_wait on a fiber is a
// zero-timeout epoll_wait — whose events are the kernel's, exactly — repeated after readiness waits
// on the instance (readiness.hpp: a private epoll containing the program's one, parked on the
// worker's reactor). Several fibers may wait on the same instance; each has its own private epoll.
// Off a fiber, and for zero timeouts, the call is libc's. epoll_pwait's signal mask is applied only
// during each zero-timeout check (signals are per worker thread). A stop request on the waiting
// fiber ends the wait with EINTR. The program's epoll instance is never modified.
// The close protocol (fd_table.hpp) never applies to epfd: an epoll descriptor is not a socket or
// FIFO, so it is never managed and close() of it is libc's at once. Members closed meanwhile are the
// kernel's business (an epoll drops a file when its last descriptor goes), exactly as on threads.
#include <sys/epoll.h>

#include <fiber/detail/park.hpp>
#include <hook/original.hpp>
#include <hook/posix_time.hpp>
#include <hook/readiness.hpp>

namespace {

template <class Check>
int epoll_wait_on_fiber(int epfd, int timeout, Check&& check) {
  weft::hook::detail::interest self{epfd, EPOLLIN};
  return weft::hook::detail::wait_for_readiness(&self, 1, weft::hook::detail::deadline_after_ms(timeout), check);
}

}  // namespace

extern "C" {

int epoll_wait(int epfd, epoll_event* events, int maxevents, int timeout) {
  if (!fiber::detail::in_fiber() || timeout == 0) return WEFT_ORIG(epoll_wait)(epfd, events, maxevents, timeout);
  return epoll_wait_on_fiber(epfd, timeout, [&] { return WEFT_ORIG(epoll_wait)(epfd, events, maxevents, 0); });
}

int epoll_pwait(int epfd, epoll_event* events, int maxevents, int timeout, const sigset_t* mask) {
  if (!fiber::detail::in_fiber() || timeout == 0) return WEFT_ORIG(epoll_pwait)(epfd, events, maxevents, timeout, mask);
  return epoll_wait_on_fiber(epfd, timeout, [&] { return WEFT_ORIG(epoll_pwait)(epfd, events, maxevents, 0, mask); });
}

}  // extern "C"
