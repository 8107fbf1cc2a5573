// channel.cpp — the non-template parts of fiber::channel (error category, misuse report).
#include <sync/channel.hpp>
#include <sync/detail/mutex_core.hpp>

#include <string>

namespace fiber {

namespace {
class channel_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "weft.channel"; }
  std::string message(int ev) const override {
    return ev == static_cast<int>(channel_errc::closed) ? "channel closed" : "unknown channel error";
  }
};
}  // namespace

const std::error_category& channel_category() noexcept {
  static const channel_category_impl category;
  return category;
}

namespace detail {
void channel_destroyed_with_waiters() noexcept {
  fatal_misuse("channel", "destroyed while fibers/threads are blocked on it");
}
}  // namespace detail

}  // namespace fiber
