// file_read_floor.cpp — what one 4 KiB random read of a file costs the calling core, with no
// runtime around it: the floor under file_bench's rows. Each line is nanoseconds per read
// (wall clock, one thread, the file's blocks picked at random):
//   getppid   a system call that does nothing (the entry and exit alone)
//   pread     pread(2)
//   nowait    preadv2(RWF_NOWAIT) (what fiber::fs tries first on a file that is not O_DIRECT)
//   ring/B    IORING_OP_READ, B reads per io_uring_enter, waiting for all B (io_uring builds only)
// If `pread` is far above `getppid`, the read is the kernel's copy and page-cache work, which no
// batching removes, and one core cannot match two threads' rate on cached reads.
//   ./build/bench/file_read_floor FILE [reads]
// Linux only (preadv2, io_uring); elsewhere it says so.
#include <cstdio>
#if defined(__linux__)
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <random>
#include <vector>
#if defined(WEFT_FLOOR_URING)
#include <liburing.h>
#endif

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t block = 4096;

template <class Body>
double ns_per(long count, Body&& body) {
  const auto t0 = clock_type::now();
  for (long i = 0; i < count; ++i) body();
  return std::chrono::duration<double, std::nano>(clock_type::now() - t0).count() / static_cast<double>(count);
}

void fail(const char* what) {
  std::perror(what);
  std::exit(1);
}

#if defined(WEFT_FLOOR_URING)
double ring_ns_per(int fd, long reads, unsigned batch, std::mt19937_64& rng, long blocks) {
  io_uring ring{};
  if (int e = io_uring_queue_init(256, &ring, 0); e < 0) {
    std::fprintf(stderr, "io_uring_queue_init: error %d\n", -e);
    return -1;
  }
  std::vector<char> bufs(block * batch);
  long done = 0;
  const auto t0 = clock_type::now();
  while (done < reads) {
    for (unsigned i = 0; i < batch; ++i) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
      io_uring_prep_read(sqe, fd, bufs.data() + block * i, block, static_cast<__u64>(rng() % blocks) * block);
    }
    io_uring_submit_and_wait(&ring, batch);
    io_uring_cqe* cqe = nullptr;
    unsigned head = 0, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      if (cqe->res != static_cast<int>(block)) {
        std::fprintf(stderr, "ring read: result %d\n", cqe->res);
        std::exit(1);
      }
      ++seen;
    }
    io_uring_cq_advance(&ring, seen);
    done += seen;
  }
  const double ns =
      std::chrono::duration<double, std::nano>(clock_type::now() - t0).count() / static_cast<double>(done);
  io_uring_queue_exit(&ring);
  return ns;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [reads]\n", argv[0]);
    return 2;
  }
  const long reads = argc > 2 ? std::atol(argv[2]) : 200000;
  const int fd = ::open(argv[1], O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(argv[1]);
  const off_t size = ::lseek(fd, 0, SEEK_END);
  const long blocks = static_cast<long>(size / static_cast<off_t>(block));
  if (blocks < 1) {
    std::fprintf(stderr, "%s: smaller than one 4 KiB block\n", argv[1]);
    return 2;
  }
  std::mt19937_64 rng(1);
  std::vector<char> buf(block);
  auto at_random = [&] { return static_cast<off_t>(rng() % static_cast<unsigned long>(blocks)) * block; };
  for (long i = 0; i < blocks; ++i)  // warm the page cache (tmpfs: already memory)
    if (::pread(fd, buf.data(), block, static_cast<off_t>(i) * block) < 0) fail("pread");

  std::printf("getppid %.0f\n", ns_per(reads, [] { ::syscall(SYS_getppid); }));
  std::printf("pread %.0f\n", ns_per(reads, [&] {
                if (::pread(fd, buf.data(), block, at_random()) != static_cast<ssize_t>(block)) fail("pread");
              }));
  ::iovec one{buf.data(), block};
  if (::preadv2(fd, &one, 1, 0, RWF_NOWAIT) < 0) {
    std::printf("nowait unsupported (%s)\n", errno == EOPNOTSUPP ? "EOPNOTSUPP: tmpfs" : "error");
  } else {
    std::printf("nowait %.0f\n", ns_per(reads, [&] {
                  if (::preadv2(fd, &one, 1, at_random(), RWF_NOWAIT) != static_cast<ssize_t>(block)) fail("preadv2");
                }));
  }
#if defined(WEFT_FLOOR_URING)
  for (unsigned batch : {1U, 16U, 64U}) {
    const double ns = ring_ns_per(fd, reads, batch, rng, blocks);
    if (ns > 0) std::printf("ring/%u %.0f\n", batch, ns);
  }
#endif
  ::close(fd);
}
#else
int main() {
  std::puts("file_read_floor: Linux only");
}
#endif
