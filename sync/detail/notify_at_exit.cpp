// notify_at_exit.cpp — fiber::notify_all_at_thread_exit: a condition variable notified, and its
// lock released, when the calling fiber (or OS thread) ends.
#include <fiber/detail/fiber_control.hpp>
#include <sync/condition_variable.hpp>

namespace fiber {

namespace {
struct notify_on_exit final : detail::exit_action {
  notify_on_exit(condition_variable& c, std::unique_lock<mutex>&& l) : cond(c), lock(std::move(l)) {}
  void run() noexcept override {
    lock.unlock();
    cond.notify_all();
    delete this;
  }
  condition_variable& cond;
  std::unique_lock<mutex> lock;
};
}  // namespace

void notify_all_at_thread_exit(condition_variable& cond, std::unique_lock<mutex> lk) {
  detail::at_exit_of_current(new notify_on_exit(cond, std::move(lk)));
}

}  // namespace fiber
