// stack_memory_posix.cpp — os/stack_memory.hpp with mmap/madvise/mprotect/mincore. Linux adds
// guard regions (MADV_GUARD_INSTALL), batched page commits (process_madvise + MADV_POPULATE_WRITE)
// and reads its map-count limit from /proc; other systems use mprotect guards without a limit to
// respect, and commit pages by touching them.
#include <fiber/detail/os/stack_memory.hpp>

#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include <atomic>
#include <cerrno>
#include <fstream>
#include <system_error>
#include <vector>

#if defined(__linux__) && !defined(MADV_GUARD_INSTALL)
#define MADV_GUARD_INSTALL 102
#endif
#if defined(__linux__) && !defined(MADV_POPULATE_WRITE)
#define MADV_POPULATE_WRITE 23
#endif

namespace fiber::detail {

namespace {

#ifdef MAP_NORESERVE
constexpr int reserve_flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
#else
constexpr int reserve_flags = MAP_PRIVATE | MAP_ANONYMOUS;
#endif

std::atomic<long> mprotect_guard_budget{-1};  // guards mprotect may still install; -1: not computed

long initial_mprotect_budget() noexcept {
#if defined(__linux__)
  long max_maps = 65530;
  std::ifstream in("/proc/sys/vm/max_map_count");
  if (in) in >> max_maps;
  return max_maps / 4 / 2;  // each mprotect'd guard splits a mapping: ~2 VMAs
#else
  return 1L << 40;  // no per-process mapping limit to stay under
#endif
}

bool probe_guard_regions() noexcept {
#if defined(__linux__)
  const std::size_t pg = page_size();
  void* p = ::mmap(nullptr, 2 * pg, PROT_READ | PROT_WRITE, reserve_flags, -1, 0);
  if (p == MAP_FAILED) return false;
  const bool ok = ::madvise(p, pg, MADV_GUARD_INSTALL) == 0;
  ::munmap(p, 2 * pg);
  return ok;
#else
  return false;
#endif
}

#if defined(__linux__)
// How commit_pages() talks to this kernel; it steps down once when a way is refused.
enum class commit_way : int { batched, per_page, none };
std::atomic<commit_way> commit_mode{commit_way::batched};
constexpr int pidfd_self_process = -10001;  // PIDFD_SELF_THREAD_GROUP: this process, even after a fork
constexpr std::size_t commit_batch = 64;

bool refused(int err) noexcept {
  return err == EINVAL || err == ENOSYS || err == EBADF || err == EPERM || err == ESRCH;
}

// Returns how many of `pages` it committed before the kernel refused the batched way (then all
// are left to the per-page way), or `count`.
std::size_t commit_batched(char* const* pages, std::size_t count) noexcept {
#ifdef SYS_process_madvise
  iovec iov[commit_batch];
  std::size_t done = 0;
  while (done < count) {
    const std::size_t n = count - done < commit_batch ? count - done : commit_batch;
    for (std::size_t i = 0; i < n; ++i) iov[i] = {pages[done + i], page_size()};
    const long advised = ::syscall(SYS_process_madvise, pidfd_self_process, iov, n, MADV_POPULATE_WRITE, 0);
    if (advised < 0) {
      if (refused(errno)) commit_mode.store(commit_way::per_page, std::memory_order_relaxed);
      return done;  // not refused (ENOMEM, EINTR): the rest fault in on first touch
    }
    const std::size_t pages = static_cast<std::size_t>(advised) / page_size();
    if (pages < n) return done + pages;  // stopped part-way: the rest fault in on first touch
    done += n;
  }
  return done;
#else
  commit_mode.store(commit_way::per_page, std::memory_order_relaxed);
  (void)pages;
  (void)count;
  return 0;
#endif
}
#endif

}  // namespace

std::size_t commit_pages(char* const* pages, std::size_t count) noexcept {
#if defined(__linux__)
  const int saved_errno = errno;
  std::size_t done = 0;
  if (commit_mode.load(std::memory_order_relaxed) == commit_way::batched) {
    done = commit_batched(pages, count);
    if (commit_mode.load(std::memory_order_relaxed) == commit_way::batched) {
      errno = saved_errno;
      return done;  // all, or stopped by a transient failure
    }
  }
  if (commit_mode.load(std::memory_order_relaxed) == commit_way::per_page) {
    for (; done < count; ++done) {
      if (::madvise(pages[done], page_size(), MADV_POPULATE_WRITE) == 0) continue;
      if (refused(errno)) commit_mode.store(commit_way::none, std::memory_order_relaxed);
      break;
    }
  }
  errno = saved_errno;
  return done;
#else
  (void)pages;
  (void)count;
  return 0;
#endif
}

std::size_t page_size() noexcept {
  static const std::size_t pg = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return pg;
}

char* reserve_stack_memory(std::size_t bytes) {
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, reserve_flags, -1, 0);
  if (mem == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "weft: cannot reserve fiber stacks");
#if defined(__linux__) && defined(MADV_NOHUGEPAGE)
  // A fiber touches a page or two of its slot: with transparent huge pages set to "always", one
  // touch (or one commit_pages) could make 2 MiB resident. Best effort: an error changes nothing.
  ::madvise(mem, bytes, MADV_NOHUGEPAGE);
#endif
  return static_cast<char*>(mem);
}

bool stack_guard_regions_supported() noexcept {
  static const bool ok = probe_guard_regions();
  return ok;
}

bool install_stack_guard(char* page) noexcept {
#if defined(__linux__)
  if (stack_guard_regions_supported()) return ::madvise(page, page_size(), MADV_GUARD_INSTALL) == 0;
#endif
  if (mprotect_guard_budget.load(std::memory_order_relaxed) < 0) {
    long expected = -1;
    mprotect_guard_budget.compare_exchange_strong(expected, initial_mprotect_budget());
  }
  if (mprotect_guard_budget.fetch_sub(1, std::memory_order_relaxed) <= 0) return false;
  return ::mprotect(page, page_size(), PROT_NONE) == 0;
}

void discard_stack_memory(char* addr, std::size_t bytes) noexcept {
#if defined(__linux__)
  ::madvise(addr, bytes, MADV_DONTNEED);  // immediate: the pages read as zero from now on
#else
  ::madvise(addr, bytes, MADV_FREE);
#endif
}

std::size_t resident_bytes(const char* addr, std::size_t bytes) noexcept {
  const std::size_t pg = page_size();
  const std::size_t pages = (bytes + pg - 1) / pg;
#if defined(__linux__)
  std::vector<unsigned char> vec(pages);
#else
  std::vector<char> vec(pages);
#endif
  if (::mincore(const_cast<char*>(addr), bytes, vec.data()) != 0) return 0;
  std::size_t n = 0;
  for (auto v : vec) n += (v & 1) ? 1 : 0;
  return n * pg;
}

}  // namespace fiber::detail
