// fs_responsive_test.cpp — a worker stays responsive while one of its fibers does slow file work:
// a 1 ms ticker fiber on the same (only) worker keeps ticking while another fiber fsyncs a large
// amount of dirty data, or reads a large file with O_DIRECT — on every backend (ring operations on
// io_uring, the blocking pool elsewhere). The only thing judged is liveness: no gap between ticks
// above a generous bound. The duration of the slow call itself is printed, not judged (on a thread
// it blocks for that long). Sizes: WEFT_FS_RESPONSIVE_MIB (default 128).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fs/fs.hpp>
#include <fiber/fiber.hpp>
#include "ticker.hpp"
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace fs = fiber::fs;
using steady = std::chrono::steady_clock;
using weft_test::expect_live;
using weft_test::ms;
using weft_test::ticks;
using weft_test::with_ticker;

namespace {

struct temp_file {
  std::filesystem::path path;
  temp_file() {
    std::string templ = "./weft-fs-responsive-XXXXXX";  // the build tree: a real disk, not tmpfs
    const int fd = ::mkstemp(templ.data());
    if (fd >= 0) ::close(fd);
    path = templ;
  }
  ~temp_file() { ::unlink(path.c_str()); }
};

const char* backend_name() {
  switch (fiber::default_runtime().io_backend()) {
    case fiber::io_backend::io_uring:
      return "io_uring";
    case fiber::io_backend::kqueue:
      return "kqueue";
    default:
      return "epoll";
  }
}

}  // namespace

TEST(FsResponsive, TickerKeepsTickingWhileAFiberFsyncsDirtyData) {
  temp_file tf;
  const std::size_t total = weft_test::responsive_mib() << 20;
  steady::time_point write0, sync0, sync1;
  const ticks t = with_ticker([&] {
    auto f = fs::file::open(tf.path, O_WRONLY | O_TRUNC);
    const std::string chunk(1 << 20, 'd');
    write0 = steady::now();
    for (std::size_t off = 0; off < total; off += chunk.size()) f.write_at(off, chunk);
    sync0 = steady::now();
    f.sync();
    sync1 = steady::now();
  });
  std::printf("backend %s: %zu MiB written in %lld ms, fsync %lld ms (%ld ticks during it), largest tick gap %lld ms\n",
              backend_name(), weft_test::responsive_mib(), ms(sync0 - write0), ms(sync1 - sync0),
              t.during(sync0, sync1), ms(t.worst_gap));
  expect_live(t, write0, sync1);
}

TEST(FsResponsive, TickerKeepsTickingWhileAFiberReadsALargeFileWithODirect) {
  temp_file tf;
  const std::size_t total = weft_test::responsive_mib() << 20;
  {
    const int fd = ::open(tf.path.c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    const std::string chunk(1 << 20, 'r');
    for (std::size_t off = 0; off < total; off += chunk.size())
      ASSERT_EQ(::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(off)), static_cast<ssize_t>(chunk.size()));
    ::fsync(fd);
    ::close(fd);
  }
  std::error_code ec;
  {
    auto probe = fs::file::open(tf.path, O_RDONLY | O_DIRECT, ec);
    if (ec) GTEST_SKIP() << "no O_DIRECT here: " << ec.message();
  }
  std::size_t got = 0;
  steady::time_point read0, read1;
  const ticks t = with_ticker([&] {
    auto f = fs::file::open(tf.path, O_RDONLY | O_DIRECT);
    constexpr std::size_t chunk = 8 << 20;
    void* raw = nullptr;
    ASSERT_EQ(::posix_memalign(&raw, 4096, chunk), 0);
    std::unique_ptr<char, decltype(&std::free)> buf(static_cast<char*>(raw), &std::free);
    read0 = steady::now();
    for (std::size_t off = 0; off < total; off += chunk) got += f.read_at(off, fs::mutable_buffer(buf.get(), chunk));
    read1 = steady::now();
  });
  EXPECT_EQ(got, total);
  std::printf("backend %s: %zu MiB read with O_DIRECT in %lld ms (%ld ticks during it), largest tick gap %lld ms\n",
              backend_name(), weft_test::responsive_mib(), ms(read1 - read0), t.during(read0, read1), ms(t.worst_gap));
  expect_live(t, read0, read1);
}

// Reads the kernel answers at once (the page cache, an in-memory file system) are no scheduling
// point of their own: a fiber looping over them must still let the ticker on its worker run.
void loop_of_cached_reads(const std::filesystem::path& path) {
  {
    const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    const std::string chunk(1 << 20, 'c');
    ASSERT_EQ(::write(fd, chunk.data(), chunk.size()), static_cast<ssize_t>(chunk.size()));
    ::close(fd);
  }
  long reads = 0;
  steady::time_point read0, read1;
  const ticks t = with_ticker([&] {
    auto f = fs::file::open(path, O_RDONLY);
    char buf[4096];
    read0 = steady::now();
    while (steady::now() - read0 < 300ms) {
      const std::uint64_t off = static_cast<std::uint64_t>(reads % 256) * sizeof buf;
      ASSERT_EQ(f.read_at(off, fs::mutable_buffer(buf, sizeof buf)), sizeof buf);
      ASSERT_EQ(buf[0], 'c');
      ++reads;
    }
    read1 = steady::now();
  });
  std::printf("backend %s: %ld cached 4 KiB reads of %s in %lld ms (%ld ticks during them), largest tick gap %lld ms\n",
              backend_name(), reads, path.c_str(), ms(read1 - read0), t.during(read0, read1), ms(t.worst_gap));
  expect_live(t, read0, read1);
}

TEST(FsResponsive, TickerKeepsTickingThroughALoopOfPageCacheReads) {
  temp_file tf;
  loop_of_cached_reads(tf.path);
}

TEST(FsResponsive, TickerKeepsTickingThroughALoopOfInMemoryFileReads) {
  std::string templ = "/dev/shm/weft-fs-responsive-XXXXXX";  // tmpfs where it exists
  const int fd = ::mkstemp(templ.data());
  if (fd < 0) GTEST_SKIP() << "no /dev/shm here";
  ::close(fd);
  loop_of_cached_reads(templ);
  ::unlink(templ.c_str());
}
