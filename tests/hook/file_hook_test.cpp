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
#include "../ticker.hpp"
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using weft_test::expect_live;
using weft_test::ms;
using weft_test::ticks;
using weft_test::with_ticker;

namespace {

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
  const std::size_t total = weft_test::responsive_mib() << 20;
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
  std::printf("%zu MiB: write %lld ms, fsync %lld ms (%ld ticks during it), largest tick gap %lld ms\n",
              weft_test::responsive_mib(), ms(sync0 - write0), ms(sync1 - sync0), t.during(sync0, sync1),
              ms(t.worst_gap));
  expect_live(t, write0, sync1);
}

TEST(HookFile, PlainPreadOnAnODirectDescriptorLeavesTheWorkerTicking) {
  temp_file tf;
  const std::size_t total = weft_test::responsive_mib() << 20;
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
  std::printf("%zu MiB O_DIRECT pread in %lld ms (%ld ticks during it), largest tick gap %lld ms\n",
              weft_test::responsive_mib(), ms(read1 - read0), t.during(read0, read1), ms(t.worst_gap));
  expect_live(t, read0, read1);
}
