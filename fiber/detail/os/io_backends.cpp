// io_backends.cpp — which poller backends this build has, which one `automatic` means here, and
// the factory that makes them. CMake defines WEFT_HAVE_EPOLL / WEFT_HAVE_KQUEUE / WEFT_HAVE_IO_URING
// for the backend sources it compiles.
#include <fiber/detail/os/poller.hpp>

#include <cerrno>
#include <system_error>

namespace fiber::detail {

#if defined(WEFT_HAVE_EPOLL)
std::unique_ptr<poller> make_epoll_poller();
#endif
#if defined(WEFT_HAVE_KQUEUE)
std::unique_ptr<poller> make_kqueue_poller();
#endif
#if defined(WEFT_HAVE_IO_URING)
std::unique_ptr<poller> make_uring_poller();
#endif

bool io_backend_built(fiber::io_backend b) noexcept {
  // The branches differ per build configuration.
  // NOLINTBEGIN(bugprone-branch-clone)
  switch (b) {
    case fiber::io_backend::automatic:
      return true;
    case fiber::io_backend::epoll:
#if defined(WEFT_HAVE_EPOLL)
      return true;
#else
      return false;
#endif
    case fiber::io_backend::kqueue:
#if defined(WEFT_HAVE_KQUEUE)
      return true;
#else
      return false;
#endif
    case fiber::io_backend::io_uring:
#if defined(WEFT_HAVE_IO_URING)
      return true;
#else
      return false;
#endif
  }
  // NOLINTEND(bugprone-branch-clone)
  return false;
}

fiber::io_backend platform_default_backend() noexcept {
#if defined(WEFT_HAVE_EPOLL)
  return fiber::io_backend::epoll;  // Linux (io_uring becomes the default once it measures faster)
#else
  return fiber::io_backend::kqueue;  // BSD, macOS
#endif
}

std::atomic<int> test_io_uring_rings_before_failure{-1};

std::unique_ptr<poller> make_poller(fiber::io_backend b) {
  if (b == fiber::io_backend::automatic) b = platform_default_backend();
  switch (b) {
#if defined(WEFT_HAVE_EPOLL)
    case fiber::io_backend::epoll:
      return make_epoll_poller();
#endif
#if defined(WEFT_HAVE_KQUEUE)
    case fiber::io_backend::kqueue:
      return make_kqueue_poller();
#endif
#if defined(WEFT_HAVE_IO_URING)
    case fiber::io_backend::io_uring:
      return make_uring_poller();
#endif
    default:
      throw std::system_error(ENOSYS, std::generic_category(), "weft: io backend not built");
  }
}

const char* io_backend_name(fiber::io_backend b) noexcept {
  switch (b) {
    case fiber::io_backend::automatic:
      return "automatic";
    case fiber::io_backend::epoll:
      return "epoll";
    case fiber::io_backend::kqueue:
      return "kqueue";
    case fiber::io_backend::io_uring:
      return "io_uring";
  }
  return "unknown";
}

}  // namespace fiber::detail
