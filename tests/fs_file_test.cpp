// fs_file_test.cpp — fiber::fs (fs/fs.hpp) on fibers and on plain threads, on whichever backend
// the runtime uses (CI runs the suite once per backend by name): values and offsets, short reads at
// end of file, POSIX errors, O_APPEND from many fibers at once, concurrent positioned I/O, O_DIRECT
// alignment errors as the kernel reports them, read_file/write_file, and stop requests cancelling a
// read the kernel can cancel (io_uring).
#include "backend_in_use.hpp"
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fs/fs.hpp>
#include <fiber/fiber.hpp>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace fs = fiber::fs;

namespace {

// A fresh directory per test, removed at the end.
struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(const char* base = nullptr) {
    std::string templ =
        std::string(base ? base : (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp")) + "/weft-fs-XXXXXX";
    char* made = ::mkdtemp(templ.data());
    if (made) path = made;
  }
  ~temp_dir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path operator/(const char* name) const { return path / name; }
};

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
  return s;
}

}  // namespace

TEST(FsFile, WriteReadRoundTripAndOffsets) {
  temp_dir dir;
  fiber::run([&] {
    auto f = fs::file::open(dir / "a", O_RDWR | O_CREAT | O_TRUNC);
    ASSERT_TRUE(f.is_open());
    f.write_all("hello, ");
    f.write_all(std::string("world"));
    EXPECT_EQ(f.size(), 12u);
    // write_all advanced the file position; read_at/write_at do not move it.
    EXPECT_EQ(::lseek(f.native_handle(), 0, SEEK_CUR), 12);
    char buf[32];
    EXPECT_EQ(f.read_at(7, buf), 5u);
    EXPECT_EQ(std::string(buf, 5), "world");
    f.write_at(0, "HELLO");
    EXPECT_EQ(::lseek(f.native_handle(), 0, SEEK_CUR), 12);
    ::lseek(f.native_handle(), 0, SEEK_SET);
    std::string back;
    while (auto n = f.read_some(buf)) back.append(buf, n);
    EXPECT_EQ(back, "HELLO, world");
    EXPECT_EQ(f.read_some(buf), 0u);  // end of file
    f.sync();
    f.datasync();
    f.close();
    EXPECT_FALSE(f.is_open());
    f.close();  // idempotent
  });
}

TEST(FsFile, ShortReadsOnlyAtEndOfFile) {
  temp_dir dir;
  fiber::run([&] {
    const std::string data = pattern(100'000, 1);
    fs::write_file(dir / "b", data);
    auto f = fs::file::open(dir / "b", O_RDONLY);
    std::string buf(70'000, '\0');
    EXPECT_EQ(f.read_at(0, buf), 70'000u);
    EXPECT_EQ(buf, data.substr(0, 70'000));
    EXPECT_EQ(f.read_at(60'000, buf), 40'000u);  // short: the end
    EXPECT_EQ(buf.substr(0, 40'000), data.substr(60'000));
    EXPECT_EQ(f.read_at(100'000, buf), 0u);
    EXPECT_EQ(f.read_at(1'000'000, buf), 0u);
    EXPECT_EQ(fs::read_file(dir / "b"), data);
  });
}

TEST(FsFile, ErrorsAreTheKernels) {
  temp_dir dir;
  fiber::run([&] {
    std::error_code ec;
    auto missing = fs::file::open(dir / "nope", O_RDONLY, ec);
    EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
    EXPECT_FALSE(missing.is_open());
    try {
      fs::file::open(dir / "nope", O_RDONLY);
      ADD_FAILURE() << "no exception";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    }
    fs::file::open(dir.path, O_WRONLY, ec);
    EXPECT_EQ(ec, std::errc::is_a_directory);
    auto d = fs::file::open(dir.path, O_RDONLY | O_DIRECTORY);
    char buf[8];
    d.read_some(buf, ec);
    EXPECT_EQ(ec, std::errc::is_a_directory);
    fs::write_file(dir / "ro", "x");
    auto ro = fs::file::open(dir / "ro", O_RDONLY);
    ro.write_all("y", ec);
    EXPECT_EQ(ec, std::errc::bad_file_descriptor);
    fs::file closed;
    closed.read_some(buf, ec);
    EXPECT_EQ(ec, std::errc::bad_file_descriptor);
    EXPECT_THROW(closed.size(), std::system_error);
    EXPECT_EQ(fs::read_file(dir / "nope", ec), "");
    EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
    fs::write_file(dir / "no-such-dir" / "f", "x", ec);
    EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
    EXPECT_THROW(fs::read_file(dir / "nope"), std::system_error);
  });
}

// O_APPEND from many fibers on two workers: every record lands whole, none overwrites another.
TEST(FsFile, AppendFromManyFibersIsAtomicPerWrite) {
  temp_dir dir;
  fiber::runtime rt({.workers = 2});
  constexpr int writers = 64, records = 50, size = 100;
  rt.run([&] {
    std::vector<fiber::join_handle<void>> hs;
    for (int w = 0; w < writers; ++w)
      hs.push_back(fiber::spawn([&, w] {
        auto f = fs::file::open(dir / "log", O_WRONLY | O_CREAT | O_APPEND);
        for (int r = 0; r < records; ++r) {
          std::string rec(size - 1, static_cast<char>('A' + w % 26));
          rec += '\n';
          f.write_all(rec);
        }
      }));
    for (auto& h : hs) h.join();
  });
  const std::string all = rt.run([&] { return fs::read_file(dir / "log"); });
  ASSERT_EQ(all.size(), static_cast<std::size_t>(writers * records * size));
  for (std::size_t i = 0; i < all.size(); i += size) {
    const char c = all[i];
    EXPECT_EQ(all.substr(i, size - 1), std::string(size - 1, c)) << "record at " << i;
    EXPECT_EQ(all[i + size - 1], '\n');
  }
}

// Positioned reads and writes of disjoint blocks from hundreds of fibers at once.
TEST(FsFile, ConcurrentPositionedIoFromManyFibers) {
  temp_dir dir;
  fiber::runtime rt({.workers = 2});
  constexpr int blocks = 256, block = 4096;
  rt.run([&] {
    auto f = fs::file::open(dir / "c", O_RDWR | O_CREAT | O_TRUNC);
    std::vector<fiber::join_handle<void>> hs;
    for (int b = 0; b < blocks; ++b)
      hs.push_back(fiber::spawn([&, b] { f.write_at(static_cast<std::uint64_t>(b) * block, pattern(block, b)); }));
    for (auto& h : hs) h.join();
    hs.clear();
    std::atomic<int> bad{0};
    for (int b = 0; b < blocks; ++b)
      hs.push_back(fiber::spawn([&, b] {
        std::string buf(block, '\0');
        if (f.read_at(static_cast<std::uint64_t>(b) * block, buf) != block || buf != pattern(block, b)) ++bad;
      }));
    for (auto& h : hs) h.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(f.size(), std::uint64_t{blocks} * block);
  });
}

// From plain OS threads (no runtime involved) the same calls block the thread and give the same answers.
TEST(FsFile, FromPlainThreads) {
  temp_dir dir;
  std::vector<std::thread> ts;
  std::atomic<int> bad{0};
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      const auto name = dir / ("t" + std::to_string(t)).c_str();
      const std::string data = pattern(10'000 + t, t);
      fs::write_file(name, data);
      if (fs::read_file(name) != data) ++bad;
      auto f = fs::file::open(name, O_RDWR);
      f.write_at(5, "XY");
      char b[4];
      if (f.read_at(4, b) != 4 || std::memcmp(b + 1, "XY", 2) != 0) ++bad;
      if (f.size() != data.size()) ++bad;
      f.datasync();
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
}

// A misaligned O_DIRECT transfer fails with the kernel's EINVAL; an aligned one works.
TEST(FsFile, ODirectAlignmentErrorsAreTheKernels) {
  temp_dir dir(".");  // the build tree's file system (tmpfs may refuse O_DIRECT)
  fiber::run([&] {
    fs::write_file(dir / "d", pattern(1 << 16, 3));
    std::error_code ec;
    auto f = fs::file::open(dir / "d", O_RDONLY | O_DIRECT, ec);
    if (ec == std::errc::invalid_argument) GTEST_SKIP() << "this file system has no O_DIRECT";
    ASSERT_FALSE(ec) << ec.message();
    void* raw = nullptr;
    ASSERT_EQ(::posix_memalign(&raw, 4096, 8192), 0);
    std::unique_ptr<char, decltype(&std::free)> mem(static_cast<char*>(raw), &std::free);
    EXPECT_EQ(f.read_at(4096, fs::mutable_buffer(mem.get(), 4096), ec), 4096u);
    EXPECT_FALSE(ec);
    EXPECT_EQ(std::string(mem.get(), 16), pattern(1 << 16, 3).substr(4096, 16));
    f.read_at(4096, fs::mutable_buffer(mem.get() + 1, 4096), ec);  // misaligned buffer
    EXPECT_EQ(ec, std::errc::invalid_argument);
    f.read_at(1, fs::mutable_buffer(mem.get(), 4096), ec);  // misaligned offset
    EXPECT_EQ(ec, std::errc::invalid_argument);
  });
}

// A read the page cache can answer is one preadv2(RWF_NOWAIT) on the worker, on every backend: the
// fiber does not park (on io_uring it once went through the ring and parked for every read). Linux
// only: the portable path (BSD, macOS, -DWEFT_PORTABLE_FILE_IO) has no RWF_NOWAIT and uses the pool.
#if defined(__linux__) && !defined(WEFT_PORTABLE_FILE_IO)
TEST(FsFile, CachedReadsAnswerWithoutParking) {
  temp_dir dir(".");  // the build tree's file system: a page cache (tmpfs is answered directly anyway)
  const std::string data = pattern(1 << 20, 5);
  {
    fiber::runtime writer_rt({.workers = 1});
    writer_rt.run([&] { fs::write_file(dir / "cached", data); });
  }
  const int probe = ::open((dir / "cached").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(probe, 0);
  char first[16];
  ::iovec one{first, sizeof first};
  const bool nowait = ::preadv2(probe, &one, 1, 0, RWF_NOWAIT) == static_cast<ssize_t>(sizeof first);
  ::close(probe);
  if (!nowait) GTEST_SKIP() << "this file system does not answer RWF_NOWAIT reads";
  fiber::runtime rt({.workers = 1});
  auto parks = [&] {
    std::uint64_t n = 0;
    for (const auto& w : rt.stats().workers) n += w.parks;
    return n;
  };
  const std::uint64_t before = parks();
  rt.run([&] {
    auto f = fs::file::open(dir / "cached", O_RDONLY);
    char buf[4096];
    for (unsigned i = 0; i < 512; ++i) {
      const std::uint64_t at = (i * 2654435761u) % ((1u << 20) - sizeof buf);
      ASSERT_EQ(f.read_at(at, buf), sizeof buf);
      ASSERT_EQ(std::memcmp(buf, data.data() + at, sizeof buf), 0) << "at " << at;
    }
  });
  EXPECT_LT(parks() - before, 32u) << "cached reads parked: they went to the ring or the pool";
}
#endif

TEST(FsFile, ReadFileOfProcFilesThatReportNoSize) {
  fiber::run([] {
    const std::string s = fs::read_file("/proc/self/status");
    EXPECT_NE(s.find("Name:"), std::string::npos);
  });
}

// read_file reads to the end the kernel reports: a file of exactly its stat size, one that is
// empty, one larger than the first read, and a FIFO whose writer delivers in pieces with pauses
// between them (no offsets there, and every short read is not the end).
TEST(FsFile, ReadFileReadsToTheRealEnd) {
  temp_dir dir;
  const std::string exact = pattern(8192, 5), odd = pattern(100000 + 17, 6);
  {
    std::FILE* f = std::fopen((dir / "exact").c_str(), "wb");
    std::fwrite(exact.data(), 1, exact.size(), f);
    std::fclose(f);
    f = std::fopen((dir / "odd").c_str(), "wb");
    std::fwrite(odd.data(), 1, odd.size(), f);
    std::fclose(f);
    f = std::fopen((dir / "empty").c_str(), "wb");
    std::fclose(f);
  }
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  std::thread writer([&] {
    const int fd = ::open((dir / "fifo").c_str(), O_WRONLY);
    if (fd < 0) return;
    for (int i = 0; i < 5; ++i) {
      const std::string piece = pattern(3000, static_cast<unsigned>(i));
      if (::write(fd, piece.data(), piece.size()) != static_cast<ssize_t>(piece.size())) break;
      std::this_thread::sleep_for(5ms);
    }
    ::close(fd);
  });
  fiber::run([&] {
    EXPECT_EQ(fs::read_file(dir / "exact"), exact);
    EXPECT_EQ(fs::read_file(dir / "odd"), odd);
    EXPECT_EQ(fs::read_file(dir / "empty"), "");
    std::string want;
    for (int i = 0; i < 5; ++i) want += pattern(3000, static_cast<unsigned>(i));
    std::error_code ec;
    const std::string got = fs::read_file(dir / "fifo", ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want);
  });
  writer.join();
}

TEST(FsFile, MoveAndRelease) {
  temp_dir dir;
  fiber::run([&] {
    auto a = fs::file::open(dir / "m", O_RDWR | O_CREAT);
    const int fd = a.native_handle();
    fs::file b = std::move(a);
    EXPECT_FALSE(a.is_open());
    EXPECT_EQ(b.native_handle(), fd);
    fs::file c;
    c = std::move(b);
    EXPECT_EQ(c.native_handle(), fd);
    const int raw = c.release();
    EXPECT_EQ(raw, fd);
    EXPECT_FALSE(c.is_open());
    EXPECT_EQ(::fcntl(raw, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);  // O_CLOEXEC is always added
    fs::file adopt(raw);
    EXPECT_TRUE(adopt.is_open());
  });
}

// A read the kernel can cancel (a FIFO nobody writes to) ends on a stop request, on io_uring; on the
// blocking pool the call runs to its end (here: until the writer closes).
TEST(FsFile, StopRequestCancelsAReadTheKernelCanCancel) {
  temp_dir dir;
  const auto fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int keep = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK);  // so opening for reading never blocks
  ASSERT_GE(keep, 0);
  fiber::runtime rt({.workers = 1});
  const bool in_kernel = rt.io_backend() == fiber::io_backend::io_uring;
  rt.run([&] {
    auto f = fs::file::open(fifo, O_RDONLY);
    std::atomic<bool> parked{false};
    auto reader = fiber::spawn([&](std::stop_token) {
      char buf[8];
      std::error_code ec;
      parked = true;
      const auto n = f.read_some(buf, ec);
      return std::make_pair(ec, n);
    });
    while (!parked) fiber::this_fiber::yield();
    fiber::this_fiber::sleep_for(20ms);
    reader.request_stop();
    if (!in_kernel) {
      fiber::this_fiber::sleep_for(20ms);
      ASSERT_EQ(::write(keep, "q", 1), 1);  // the pool's read ends with the data
    }
    auto [ec, n] = reader.join();
    if (in_kernel) {
      EXPECT_EQ(ec, std::errc::operation_canceled);
    } else {
      EXPECT_FALSE(ec);
      EXPECT_EQ(n, 1u);
    }
  });
  ::close(keep);
}

// read_some on a pipe is one read(2): it returns what the pipe holds, not a full buffer. A pipe
// answers the page-cache try (RWF_NOWAIT) too, and only a regular file's partial answer may go on
// for the rest. (A FIFO opened by name refuses RWF_NOWAIT here and takes the ordinary path.)
TEST(FsFile, ReadSomeOnAPipeReturnsWhatItHolds) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  const int writer = p[1];
  ASSERT_EQ(::write(writer, "x", 1), 1);
  // If read_some waited for a full buffer, this late write would end it with 3 bytes, not hang.
  std::thread late([writer] {
    std::this_thread::sleep_for(1500ms);
    (void)!::write(writer, "yz", 2);
  });
  fiber::run([&] {
    fs::file f(p[0]);
    char buf[8] = {};
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(f.read_some(buf), 1u);
    EXPECT_EQ(buf[0], 'x');
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s) << "read_some waited for more than the pipe held";
    f.release();  // the read end stays open for the late write (no SIGPIPE)
  });
  late.join();
  ::close(p[0]);
  ::close(writer);
}

TEST(FsFile, BackendIsTheRequestedOne) {
  // Documents which path the suite exercised (io_uring ring operations or the blocking pool).
  std::printf("fs suite backend: %d\n", static_cast<int>(backend_in_use()));
  SUCCEED();
}
