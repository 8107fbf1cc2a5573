// file_hook_test.cpp — unmodified POSIX file calls on fibers (libweft_hook): a 1 ms ticker fiber on
// the same single worker keeps ticking while another fiber fsyncs a large amount of dirty data with
// plain write()/fsync(), or reads a large file with plain pread() on an O_DIRECT descriptor — on
// every backend (ring operations on io_uring, the blocking pool elsewhere). Only liveness is judged
// (no gap above a generous bound; the ticker runs all through the slow call). Sizes:
// WEFT_FS_RESPONSIVE_MIB (default 128).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fiber/fiber.hpp>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto allowed_gap = 100ms;

std::size_t mib() {
  const char* env = std::getenv("WEFT_FS_RESPONSIVE_MIB");
  const int v = env ? std::atoi(env) : 0;
  return static_cast<std::size_t>(v > 0 ? v : 128);
}

long long ms(steady::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

struct ticks {
  steady::duration worst_gap{};
  std::vector<steady::time_point> at;
  long during(steady::time_point from, steady::time_point to) const {
    return static_cast<long>(std::count_if(at.begin(), at.end(), [&](auto t) { return t >= from && t <= to; }));
  }
};

template <class Work>
ticks with_ticker(Work work) {
  fiber::runtime rt({.workers = 1});
  return rt.run([&] {
    std::atomic<bool> done{false};
    auto ticker = fiber::spawn([&] {
      ticks t;
      t.at.reserve(100'000);
      auto last = steady::now();
      while (!done.load(std::memory_order_relaxed)) {
        fiber::this_fiber::sleep_for(1ms);
        const auto now = steady::now();
        t.worst_gap = std::max(t.worst_gap, now - last);
        t.at.push_back(now);
        last = now;
      }
      return t;
    });
    fiber::this_fiber::sleep_for(5ms);
    work();
    done = true;
    return ticker.join();
  });
}

void expect_live(const ticks& t, steady::time_point from, steady::time_point to) {
  EXPECT_LT(t.worst_gap, allowed_gap);
  const auto slow = std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
  EXPECT_GE(t.during(from, to), slow / 20) << "the slow call took " << slow << " ms";
}

struct temp_file {
  std::string path;
  temp_file() {
    std::string templ = "./weft-file-hook-XXXXXX";  // the build tree: a real disk
    const int fd = ::mkstemp(templ.data());
    if (fd >= 0) ::close(fd);
    path = templ;
  }
  ~temp_file() { ::unlink(path.c_str()); }
};

}  // namespace

TEST(HookFile, PlainWriteAndFsyncOnAFiberLeaveTheWorkerTicking) {
  temp_file tf;
  const std::size_t total = mib() << 20;
  steady::time_point write0, sync0, sync1;
  const ticks t = with_ticker([&] {
    const int fd = ::open(tf.path.c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    const std::string chunk(1 << 20, 'd');
    write0 = steady::now();
    for (std::size_t off = 0; off < total; off += chunk.size())
      ASSERT_EQ(::write(fd, chunk.data(), chunk.size()), static_cast<ssize_t>(chunk.size()));
    sync0 = steady::now();
    EXPECT_EQ(::fsync(fd), 0);
    sync1 = steady::now();
    ::close(fd);
  });
  std::printf("%zu MiB: write %lld ms, fsync %lld ms (%ld ticks during it), largest tick gap %lld ms\n", mib(),
              ms(sync0 - write0), ms(sync1 - sync0), t.during(sync0, sync1), ms(t.worst_gap));
  expect_live(t, write0, sync1);
}

TEST(HookFile, PlainPreadOnAnODirectDescriptorLeavesTheWorkerTicking) {
  temp_file tf;
  const std::size_t total = mib() << 20;
  {
    const int fd = ::open(tf.path.c_str(), O_WRONLY | O_TRUNC);
    const std::string chunk(1 << 20, 'r');
    for (std::size_t off = 0; off < total; off += chunk.size())
      ASSERT_EQ(::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(off)), static_cast<ssize_t>(chunk.size()));
    ::fsync(fd);
    ::close(fd);
  }
  const int probe = ::open(tf.path.c_str(), O_RDONLY | O_DIRECT);
  if (probe < 0) GTEST_SKIP() << "no O_DIRECT here";
  ::close(probe);
  std::size_t got = 0;
  steady::time_point read0, read1;
  const ticks t = with_ticker([&] {
    const int fd = ::open(tf.path.c_str(), O_RDONLY | O_DIRECT);
    constexpr std::size_t chunk = 8 << 20;
    void* raw = nullptr;
    ASSERT_EQ(::posix_memalign(&raw, 4096, chunk), 0);
    std::unique_ptr<char, decltype(&std::free)> buf(static_cast<char*>(raw), &std::free);
    read0 = steady::now();
    for (std::size_t off = 0; off < total; off += chunk) {
      const ssize_t n = ::pread(fd, buf.get(), chunk, static_cast<off_t>(off));
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    read1 = steady::now();
    ::close(fd);
  });
  EXPECT_EQ(got, total);
  std::printf("%zu MiB O_DIRECT pread in %lld ms (%ld ticks during it), largest tick gap %lld ms\n", mib(),
              ms(read1 - read0), t.during(read0, read1), ms(t.worst_gap));
  expect_live(t, read0, read1);
}
