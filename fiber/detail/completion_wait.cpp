// completion_wait.cpp — submit, park, cancel, reap (fiber/detail/completion_wait.hpp).
#include <fiber/detail/completion_wait.hpp>

#include <fiber/detail/worker.hpp>

#include <cerrno>
#include <chrono>

namespace fiber::detail {

namespace {

// On the parked fiber's stack. on_complete() runs on the same worker thread (the poller's owner), in
// its scheduler context, while the fiber is parked: no field needs to be atomic.
struct parked_completion final : io_completion {
  int res = 0;
  bool done = false;
  park_token token;
  void on_complete(int r, std::uint32_t) noexcept override {
    res = r;
    done = true;
    if (token) unpark(token);
  }
};

completion_engine* engine_of_current() noexcept {
  worker* w = worker::current();
  if (!w || !w->running()) return nullptr;  // on a fiber (in_fiber()): a worker runs it
  return w->io().completions();
}

}  // namespace

completion_engine* completion_engine_for(io_op op) noexcept {
  completion_engine* e = engine_of_current();
  return e && e->mode(op) != op_mode::readiness ? e : nullptr;
}

int await_completion(completion_engine& e, const io_request& r, clock::time_point deadline, bool own_stop,
                     completion_watch* watch, completion_end& end, bool* submitted) noexcept {
  end = completion_end::completed;
  parked_completion c;
  if (!e.submit(r, c)) {
    if (submitted) *submitted = false;
    return -EAGAIN;
  }
  if (submitted) *submitted = true;
  bool cancel_wanted = false;  // the wait is over for us; the completion is not
  bool cancel_queued = false;
  while (!c.done) {
    if (cancel_wanted && !cancel_queued) {
      cancel_queued = e.cancel(c);  // fails only while the submission queue cannot take it: retry soon
    }
    c.token = prepare_park();
    wake_reason why;
    if (cancel_wanted) {
      // Only the completion ends this park (or, while the cancel could not be queued, a short nap).
      why = park_until(c.token, cancel_queued ? no_deadline : clock::now() + std::chrono::milliseconds(1));
    } else {
      const bool live = !watch || watch->publish(c.token);
      if (!live) unpark(c.token);  // over already: the park returns at once
      why = own_stop ? park_until_own_stop(c.token, deadline) : park_until(c.token, deadline);
      if (watch) watch->withdraw();
      if (!live && !c.done) {
        end = completion_end::watched;
        cancel_wanted = true;
      }
    }
    c.token = {};
    if (c.done || cancel_wanted) continue;
    if (why == wake_reason::timeout) {
      end = completion_end::timed_out;
      cancel_wanted = true;
    } else if (why == wake_reason::stopped) {
      end = completion_end::stopped;
      cancel_wanted = true;
    } else if (watch && watch->over()) {
      end = completion_end::watched;
      cancel_wanted = true;
    }
  }
  // Finished first: what the kernel did stands (a read's bytes are delivered, an accepted fd returned).
  if (c.res >= 0 || (c.res != -ECANCELED && c.res != -EINTR)) end = completion_end::completed;
  return c.res;
}

}  // namespace fiber::detail
