// process_hooks.cpp — wait, waitpid, wait4, waitid: waiting for a child process parks only the
// calling fiber, not its worker (a legacy server that forks workers or calls system() keeps serving
// its other connections while one fiber waits).
//
// How: for one specific child (pid > 0) the fiber waits on a pidfd (Linux >= 5.3: readable once the
// child has exited) registered with the worker's poller, then reaps it with the real call. Anything
// a pidfd cannot watch — any child (-1), a process group, stopped/continued children (WUNTRACED,
// WCONTINUED), a kernel without pidfd_open — is polled with WNOHANG on the worker's timer, backing
// off from 1 ms to 10 ms. Results, errors (ECHILD, EINVAL) and status words are the real call's.
// A stop request on the fiber (join_handle::request_stop) ends the wait with EINTR, as for a
// signal on a thread; calls with WNOHANG, and calls off a fiber, are libc's.
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fiber/detail/park.hpp>
#include <fiber/this_fiber.hpp>
#include <hook/blocking_io.hpp>
#include <hook/lock_check.hpp>
#include <hook/original.hpp>
#include <net/detail/poll_descriptor.hpp>

namespace {

namespace wh = weft::hook::detail;
using namespace std::chrono;

// Parks until `pid` has exited (true), or says it cannot watch it (false: poll instead). EINTR in
// `err` when the fiber was asked to stop.
bool wait_for_exit(pid_t pid, int& err) noexcept {
#ifdef SYS_pidfd_open
  const int pfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pfd < 0) return false;  // ENOSYS (old kernel), ESRCH (not a child we can see yet): poll
  fiber::net::detail::poll_descriptor* pd;
  {
    wh::internal_scope guard;
    pd = fiber::net::detail::poll_descriptor::create(pfd, /*owns_fd=*/true);
  }
  if (pd->begin_op()) {
    auto ec = pd->wait(fiber::net::detail::io_kind::read, fiber::detail::no_deadline);
    pd->end_op();
    if (ec) err = wh::errno_for_wait(ec);
  }
  pd->release();
  return true;
#else
  (void)pid;
  (void)err;
  return false;
#endif
}

// The common shape: `call(options)` is the real wait call; it is retried with WNOHANG until it
// reports something (`done(result)`), parking in between.
template <class Call, class Done>
auto wait_on_fiber(pid_t pid, int options, Call&& call, Done&& done) -> decltype(call(0)) {
  if (!fiber::detail::in_fiber() || (options & WNOHANG)) return call(options);
  wh::note_blocking_call("a wait for a child process");
  // WUNTRACED is waitid's WSTOPPED: a pidfd only says "exited".
  const bool pidfd_fits = pid > 0 && !(options & (WUNTRACED | WCONTINUED));
  nanoseconds backoff = milliseconds(1);
  for (;;) {
    auto r = call(options | WNOHANG);
    if (done(r)) return r;
    int err = 0;
    if (pidfd_fits && wait_for_exit(pid, err)) {
      if (err == 0) continue;  // it has exited: the next call reaps it
      errno = err;
      return -1;
    }
    if (fiber::detail::own_stop_requested()) {
      errno = EINTR;
      return -1;
    }
    fiber::this_fiber::sleep_for(backoff);
    backoff = std::min<nanoseconds>(backoff * 2, milliseconds(10));
  }
}

}  // namespace

extern "C" {

pid_t waitpid(pid_t pid, int* status, int options) {
  return wait_on_fiber(
      pid, options, [&](int o) { return WEFT_ORIG(waitpid)(pid, status, o); }, [](pid_t r) { return r != 0; });
}

pid_t wait(int* status) {
  return waitpid(-1, status, 0);
}

pid_t wait4(pid_t pid, int* status, int options, struct rusage* usage) {
  return wait_on_fiber(
      pid, options, [&](int o) { return WEFT_ORIG(wait4)(pid, status, o, usage); }, [](pid_t r) { return r != 0; });
}

int waitid(idtype_t idtype, id_t id, siginfo_t* info, int options) {
  // Without an info block a WNOHANG call cannot say whether it found a child: libc's, blocking.
  if (!info) return WEFT_ORIG(waitid)(idtype, id, info, options);
  const pid_t pid = idtype == P_PID ? static_cast<pid_t>(id) : -1;
  return wait_on_fiber(
      pid, options,
      [&](int o) {
        if (info) info->si_pid = 0;  // WNOHANG with nothing to report leaves it 0 (POSIX)
        return WEFT_ORIG(waitid)(idtype, id, info, o);
      },
      [&](int r) { return r != 0 || info->si_pid != 0; });
}

}  // extern "C"
