// The platform layer (fiber/detail/os/): backend selection by runtime_options::io_backend and
// WEFT_IO_BACKEND with its fallback line, every built backend serving sockets, the portable OS-thread
// waiter, descriptor sets, page size use, CPU information.
#include "echo_round_trip.hpp"
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fiber/detail/os/cpu.hpp>
#include <fiber/detail/os/descriptor_set.hpp>
#include <fiber/detail/os/poller.hpp>
#include <fiber/detail/os/stack_memory.hpp>
#include <fiber/detail/os/thread_waiter.hpp>
#include <fiber/fiber.hpp>
#include <memory>
#include <net/net.hpp>
#include <optional>
#include <string>
#include <sync/sync.hpp>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace fd = fiber::detail;

namespace {

// WEFT_IO_BACKEND, when set, wins over every option (CI runs the suites once per backend this way);
// a backend it names that is not built falls back to the platform default.
std::optional<fiber::io_backend> env_backend() {
  const char* env = std::getenv("WEFT_IO_BACKEND");
  if (!env || !*env) return std::nullopt;
  for (auto b : {fiber::io_backend::epoll, fiber::io_backend::kqueue, fiber::io_backend::io_uring})
    if (std::string(env) == fd::io_backend_name(b)) return fd::io_backend_built(b) ? b : fd::platform_default_backend();
  return std::nullopt;
}

// Hides WEFT_IO_BACKEND for the scope of a test that checks what the option alone does.
struct without_env_backend {
  std::string saved;
  bool had = false;
  without_env_backend() {
    if (const char* e = std::getenv("WEFT_IO_BACKEND")) {
      saved = e;
      had = true;
      ::unsetenv("WEFT_IO_BACKEND");
    }
  }
  ~without_env_backend() {
    if (had) ::setenv("WEFT_IO_BACKEND", saved.c_str(), 1);
  }
};

TEST(Platform, DefaultRuntimeUsesTheRequestedOrPlatformBackend) {
  const fiber::io_backend expected = env_backend().value_or(fd::platform_default_backend());
  EXPECT_EQ(fiber::default_runtime().io_backend(), expected);
  EXPECT_TRUE(fd::io_backend_built(expected));
  EXPECT_GE(fiber::default_runtime().workers(), 1u);
}

TEST(Platform, EveryBuiltBackendServesSockets) {
  int built = 0;
  for (auto b : {fiber::io_backend::epoll, fiber::io_backend::kqueue, fiber::io_backend::io_uring}) {
    if (!fd::io_backend_built(b)) continue;
    ++built;
    SCOPED_TRACE(fd::io_backend_name(b));
    fiber::runtime rt({.workers = 1, .io_backend = b});
    EXPECT_EQ(rt.io_backend(), env_backend().value_or(b));
    echo_round_trip(rt);
  }
  EXPECT_GE(built, 1);
}

TEST(Platform, UnbuiltBackendFallsBackWithOneLine) {
  without_env_backend hide;
  std::optional<fiber::io_backend> missing;
  for (auto b : {fiber::io_backend::kqueue, fiber::io_backend::io_uring, fiber::io_backend::epoll})
    if (!fd::io_backend_built(b)) missing = b;
  if (!missing) GTEST_SKIP() << "every backend is built into this weft";
  testing::internal::CaptureStderr();
  fiber::runtime rt({.workers = 1, .io_backend = *missing});
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(rt.io_backend(), fd::platform_default_backend());
  EXPECT_NE(err.find(std::string("io backend '") + fd::io_backend_name(*missing) + "' is not built"), std::string::npos)
      << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  echo_round_trip(rt);
}

TEST(Platform, UnknownBackendNameInTheEnvironmentIsReported) {
  without_env_backend hide;
  ::setenv("WEFT_IO_BACKEND", "carrier-pigeon", 1);
  testing::internal::CaptureStderr();
  fiber::runtime rt({.workers = 1});
  const std::string err = testing::internal::GetCapturedStderr();
  ::unsetenv("WEFT_IO_BACKEND");
  EXPECT_NE(err.find("WEFT_IO_BACKEND=carrier-pigeon is not a backend"), std::string::npos) << err;
  EXPECT_EQ(rt.io_backend(), fd::platform_default_backend());
}

TEST(Platform, PortableThreadWaiterWakesAndTimesOut) {
  std::atomic<std::uint64_t> word{5};
  // Not equal: returns at once.
  auto t0 = std::chrono::steady_clock::now();
  fd::portable_wait_on_word(word, 4, fd::no_deadline);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  // Equal, deadline: returns (spuriously or at the deadline) without a waker.
  fd::portable_wait_on_word(word, 5, fd::deadline_after(20ms));
  // A waker that changes the word and wakes: the waiter sees it (loop as callers do).
  std::thread waker([&] {
    std::this_thread::sleep_for(20ms);
    word.store(6);
    fd::portable_wake_word(word);
  });
  while (word.load() == 5) fd::portable_wait_on_word(word, 5, fd::no_deadline);
  waker.join();
  EXPECT_EQ(word.load(), 6u);
  // Many threads on many words (shared buckets) all wake.
  constexpr int n = 16;
  std::atomic<std::uint64_t> words[n];
  for (auto& w : words) w = 0;
  std::vector<std::thread> waiters;
  for (int i = 0; i < n; ++i)
    waiters.emplace_back([&, i] {
      while (words[i].load() == 0) fd::portable_wait_on_word(words[i], 0, fd::no_deadline);
    });
  std::this_thread::sleep_for(10ms);
  for (auto& w : words) {
    w.store(1);
    fd::portable_wake_word(w);
  }
  for (auto& t : waiters) t.join();
}

TEST(Platform, DescriptorSetReportsReadinessLevelTriggered) {
  auto set = fd::make_descriptor_set();
  ASSERT_TRUE(set);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_FALSE(set->watch(sv[0], fd::io_readable));
  fd::ready_descriptor out[4];
  EXPECT_EQ(set->collect(out, 4), 0);
  ASSERT_EQ(::write(sv[1], "x", 1), 1);
  ASSERT_EQ(set->collect(out, 4), 1);
  EXPECT_EQ(out[0].fd, sv[0]);
  EXPECT_TRUE(out[0].events & fd::io_readable);
  EXPECT_EQ(set->collect(out, 4), 1);                                  // level-triggered: still readable
  ASSERT_FALSE(set->watch(sv[0], fd::io_readable | fd::io_writable));  // changing the interest
  ASSERT_EQ(set->collect(out, 4), 1);
  EXPECT_TRUE(out[0].events & fd::io_writable);
  set->unwatch(sv[0]);
  EXPECT_EQ(set->collect(out, 4), 0);
  ::close(sv[0]);
  ::close(sv[1]);
}

// A new fiber's first page is committed in batches (stack_pool's cold start): exactly the pages asked
// for become resident, the others in between stay untouched, and errno is left alone.
TEST(Platform, CommitPagesMakesExactlyThoseResident) {
  const std::size_t pg = fd::page_size();
  constexpr std::size_t slots = 100, slot_pages = 4;
  char* mem = fd::reserve_stack_memory(slots * slot_pages * pg);  // no huge pages (reserve says so)
  std::vector<char*> tops;
  for (std::size_t i = 0; i < slots; ++i) tops.push_back(mem + (i * slot_pages + slot_pages - 1) * pg);
  errno = EDOM;
  const std::size_t committed = fd::commit_pages(tops.data(), tops.size());
  EXPECT_EQ(errno, EDOM);
#if defined(__linux__)
  if (committed == 0) GTEST_SKIP() << "this kernel has no MADV_POPULATE_WRITE (Linux < 5.14)";
#endif
  EXPECT_EQ(committed, tops.size());
  EXPECT_EQ(fd::resident_bytes(mem, slots * slot_pages * pg), committed * pg);
  for (std::size_t i = 0; i < committed; ++i) {
    EXPECT_EQ(fd::resident_bytes(tops[i], pg), pg) << "page " << i;
    EXPECT_EQ(tops[i][0], 0) << "a committed page reads as zero";
  }
  ::munmap(mem, slots * slot_pages * pg);
}

TEST(Platform, PageSizeAndCpusComeFromTheSystem) {
  EXPECT_EQ(fd::page_size(), static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_GE(fd::usable_cpu_count(), 1u);
  EXPECT_EQ(fiber::usable_cpus(), fd::usable_cpu_count());
  // Stacks are whole pages: a fiber's usable stack is at least what was asked.
  const std::size_t asked = 3 * fd::page_size() + 100;
  auto usable = fiber::spawn({.stack_size = asked}, [] {
    char probe[1024];
    probe[0] = 1;
    return static_cast<int>(probe[0]);
  });
  EXPECT_EQ(usable.join(), 1);
}

}  // namespace
