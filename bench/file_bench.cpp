// file_bench.cpp — file I/O on fibers against threads (bench/file_bench.sh runs the tables).
//
//   file_bench randread fs|hook|threads FILE TASKS SECONDS [direct]
//       4 KiB reads at random aligned offsets of FILE by TASKS concurrent tasks: fibers on ONE worker
//       using fiber::fs::file::read_at (fs), fibers on one worker calling plain pread(2) through the
//       hook library (hook; only in file_bench_hook, which links weft::hook), or TASKS std::threads
//       calling pread (threads). `direct` opens with O_DIRECT (4 KiB-aligned buffers).
//   file_bench log fs|hook|threads FILE WRITERS SECONDS
//       WRITERS tasks each appending 512-byte records to one O_APPEND file, fdatasync after each.
// Prints one line: what=... tasks=... ops=... ops_per_s=...
// The backend is the environment's (WEFT_IO_BACKEND).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fiber/fiber.hpp>
#include <fs/fs.hpp>
#include <latch>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

using steady = std::chrono::steady_clock;

namespace {

constexpr std::size_t block = 4096;

struct aligned_buffer {
  char* p = nullptr;
  explicit aligned_buffer(std::size_t n) {
    void* raw = nullptr;
    if (::posix_memalign(&raw, block, n) == 0) p = static_cast<char*>(raw);
  }
  ~aligned_buffer() { std::free(p); }
};

std::uint64_t file_blocks(const char* path) {
  struct stat st {};
  if (::stat(path, &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_size) / block;
}

// One task's loop: random block reads until `stop`; returns how many.
template <class Read>
long read_loop(std::uint64_t blocks, unsigned seed, const std::atomic<bool>& stop, Read read) {
  aligned_buffer buf(block);
  std::mt19937_64 rng(seed);
  long n = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    const std::uint64_t off = (rng() % blocks) * block;
    if (read(buf.p, off) != static_cast<long>(block)) {
      std::fprintf(stderr, "short or failed read at %llu\n", static_cast<unsigned long long>(off));
      std::exit(1);
    }
    ++n;
  }
  return n;
}

template <class Task>
void run_fibers(int tasks, double seconds, const char* what, Task task) {
  fiber::runtime rt({.workers = 1});
  rt.run([&] {
    std::atomic<bool> stop{false};
    std::atomic<long> total{0};
    std::vector<fiber::join_handle<void>> hs;
    for (int t = 0; t < tasks; ++t) hs.push_back(fiber::spawn([&, t] { total += task(t, stop); }));
    const auto t0 = steady::now();
    fiber::this_fiber::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& h : hs) h.join();
    const double wall = std::chrono::duration<double>(steady::now() - t0).count();
    std::printf("what=%s tasks=%d ops=%ld ops_per_s=%.0f\n", what, tasks, total.load(),
                static_cast<double>(total.load()) / wall);
  });
}

template <class Task>
void run_threads(int tasks, double seconds, const char* what, Task task) {
  std::atomic<bool> stop{false};
  std::atomic<long> total{0};
  std::vector<std::thread> ts;
  std::latch start(tasks + 1);  // the clock starts when every thread exists, not while they are created
  for (int t = 0; t < tasks; ++t)
    ts.emplace_back([&, t] {
      start.arrive_and_wait();
      total += task(t, stop);
    });
  start.arrive_and_wait();
  const auto t0 = steady::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  const double wall = std::chrono::duration<double>(steady::now() - t0).count();
  std::printf("what=%s tasks=%d ops=%ld ops_per_s=%.0f\n", what, tasks, total.load(),
              static_cast<double>(total.load()) / wall);
}

int randread(const std::string& how, const char* path, int tasks, double seconds, bool direct) {
  const std::uint64_t blocks = file_blocks(path);
  if (blocks == 0) {
    std::fprintf(stderr, "%s: missing or empty\n", path);
    return 1;
  }
  const int flags = O_RDONLY | (direct ? O_DIRECT : 0);
  if (how == "fs") {
    auto f = fiber::fs::file::open(path, flags);
    run_fibers(tasks, seconds, "randread-fs", [&](int t, const std::atomic<bool>& stop) {
      return read_loop(blocks, 1000 + static_cast<unsigned>(t), stop, [&](char* p, std::uint64_t off) {
        return static_cast<long>(f.read_at(off, fiber::fs::mutable_buffer(p, block)));
      });
    });
    return 0;
  }
  const int fd = ::open(path, flags | O_CLOEXEC);
  if (fd < 0) {
    std::perror("open");
    return 1;
  }
  auto pread_block = [fd](char* p, std::uint64_t off) {
    return static_cast<long>(::pread(fd, p, block, static_cast<off_t>(off)));
  };
  if (how == "hook") {
#if defined(WEFT_FILE_BENCH_HOOK)
    run_fibers(tasks, seconds, "randread-hook", [&](int t, const std::atomic<bool>& stop) {
      return read_loop(blocks, 1000 + static_cast<unsigned>(t), stop, pread_block);
    });
#else
    std::fprintf(stderr, "hook: use file_bench_hook (linked with weft::hook)\n");
    return 2;
#endif
  } else {
    run_threads(tasks, seconds, "randread-threads", [&](int t, const std::atomic<bool>& stop) {
      return read_loop(blocks, 1000 + static_cast<unsigned>(t), stop, pread_block);
    });
  }
  ::close(fd);
  return 0;
}

int log_bench(const std::string& how, const char* path, int writers, double seconds) {
  ::unlink(path);
  const std::string record(511, 'l');
  const std::string line = record + "\n";
  auto plain_task = [&](int, const std::atomic<bool>& stop) {
    const int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    long n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()) || ::fdatasync(fd) != 0) break;
      ++n;
    }
    ::close(fd);
    return n;
  };
  if (how == "fs") {
    run_fibers(writers, seconds, "log-fs", [&](int, const std::atomic<bool>& stop) {
      auto f = fiber::fs::file::open(path, O_WRONLY | O_CREAT | O_APPEND);
      long n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        f.write_all(line);
        f.datasync();
        ++n;
      }
      return n;
    });
  } else if (how == "hook") {
#if defined(WEFT_FILE_BENCH_HOOK)
    run_fibers(writers, seconds, "log-hook", plain_task);
#else
    std::fprintf(stderr, "hook: use file_bench_hook\n");
    return 2;
#endif
  } else {
    run_threads(writers, seconds, "log-threads", plain_task);
  }
  ::unlink(path);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s randread|log fs|hook|threads FILE TASKS SECONDS [direct]\n", argv[0]);
    return 2;
  }
  const std::string what = argv[1], how = argv[2];
  const int tasks = std::atoi(argv[4]);
  const double secs = std::atof(argv[5]);
  if (what == "randread") return randread(how, argv[3], tasks, secs, argc > 6 && std::string(argv[6]) == "direct");
  if (what == "log") return log_bench(how, argv[3], tasks, secs);
  return 2;
}
