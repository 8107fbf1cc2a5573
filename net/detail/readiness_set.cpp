// readiness_set.cpp — a private descriptor set waited on through the worker's poller
// (net/detail/readiness_set.hpp).
#include <net/detail/poll_descriptor.hpp>
#include <net/detail/readiness_set.hpp>

#include <fiber/this_fiber.hpp>

#include <cerrno>

namespace fiber::net::detail {

readiness_set::readiness_set() noexcept : set_(fiber::detail::make_descriptor_set()) {
  if (!set_) return;
  try {
    pd_ = poll_descriptor::create(set_->fd(), /*owns_fd=*/false);
  } catch (...) {
    pd_ = nullptr;  // out of memory: usable() says so
  }
}

readiness_set::~readiness_set() {
  if (pd_) pd_->release();  // deregisters the set's fd while it is still open; set_ closes it after
}

std::error_code readiness_set::wait(fiber::detail::clock::time_point deadline) noexcept {
  fiber::detail::ready_descriptor probe[1];
  // Ask the set itself first: an edge on its descriptor may have been consumed by an earlier wait
  // while a member is still ready (level-triggered members stay in its ready list).
  if (set_->collect(probe, 1) > 0) {
    // Ready now. Let the worker's other fibers run first, so that a caller whose own check
    // disagrees with the set (a member that keeps reporting an event it did not ask for) cannot spin.
    fiber::this_fiber::yield();
    return {};
  }
  if (!pd_->begin_op()) return std::make_error_code(std::errc::bad_file_descriptor);
  auto ec = pd_->wait(io_kind::read, deadline);
  pd_->end_op();
  return ec;
}

}  // namespace fiber::net::detail
