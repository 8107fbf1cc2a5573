// future_state.cpp — the shared state behind fiber::future / promise (see future.hpp).
#include <sync/future.hpp>

namespace fiber::detail {

void throw_future_error(future_errc e) {
  throw future_error(e);
}

void future_state_base::take_future() {
  list_.guard().lock();
  const bool again = retrieved_;
  retrieved_ = true;
  list_.guard().unlock();
  if (again) throw_future_error(future_errc::future_already_retrieved);
}

void future_state_base::claim() {
  list_.guard().lock();
  const bool again = satisfied_;
  satisfied_ = true;
  list_.guard().unlock();
  if (again) throw_future_error(future_errc::promise_already_satisfied);
}

void future_state_base::unclaim() noexcept {
  list_.guard().lock();
  satisfied_ = false;
  list_.guard().unlock();
}

void future_state_base::publish() noexcept {
  list_.guard().lock();
  ready_.store(true, std::memory_order_release);
  list_.notify_all_locked();
  list_.guard().unlock();
}

namespace {
// Keeps the state alive until the fiber or thread that satisfied it ends, then makes it ready.
struct publish_on_exit final : exit_action {
  explicit publish_on_exit(std::shared_ptr<future_state_base> s) : state(std::move(s)) {}
  void run() noexcept override {
    state->publish();
    delete this;
  }
  std::shared_ptr<future_state_base> state;
};
}  // namespace

void future_state_base::publish_at_exit() {
  at_exit_of_current(new publish_on_exit(shared_from_this()));
}

void future_state_base::abandon() noexcept {
  list_.guard().lock();
  const bool unsatisfied = !satisfied_;
  satisfied_ = true;
  list_.guard().unlock();
  if (!unsatisfied) return;
  error_ = std::make_exception_ptr(future_error(future_errc::broken_promise));
  publish();
}

void future_state_base::wait() {
  if (is_ready()) return;
  if (deferred_) {
    list_.guard().lock();
    const bool mine = !deferred_taken_;
    deferred_taken_ = true;
    list_.guard().unlock();
    if (mine) run_deferred();
  }
  wait_until(no_deadline);
}

future_status future_state_base::wait_until(clock::time_point deadline) {
  if (is_ready()) return future_status::ready;
  if (deferred_ && deadline != no_deadline) {
    list_.guard().lock();
    const bool taken = deferred_taken_;
    list_.guard().unlock();
    if (!taken) return future_status::deferred;
  }
  if (deadline <= clock::now()) {
    // A poll (wait_for(0s)): a fiber polling in a loop must let the other fibers of its worker run.
    note_failed_try();
    return is_ready() ? future_status::ready : future_status::timeout;
  }
  list_.guard().lock();
  while (!is_ready()) {
    waiter w;
    list_.enqueue_locked(w);
    list_.guard().unlock();
    wake_reason why;
    {
      wait_scope ws(wait_kind::future, this, 0, nullptr, deadline);
      why = list_.park(w, deadline);
    }
    if (why == wake_reason::timeout) return is_ready() ? future_status::ready : future_status::timeout;
    list_.guard().lock();
  }
  list_.guard().unlock();
  return future_status::ready;
}

}  // namespace fiber::detail
