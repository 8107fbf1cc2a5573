// fs.hpp — files whose calls park only the calling fiber (namespace fiber::fs).
//
//   auto f = fiber::fs::file::open("/var/log/app.log", O_WRONLY | O_CREAT | O_APPEND);
//   f.write_all("started\n");
//   f.datasync();
//   std::string config = fiber::fs::read_file("/etc/app.conf");
//
// Every call has a throwing form (std::system_error carrying the errno) and a std::error_code& form
// that never throws. On a fiber, only that fiber waits: on Linux a read first tries the page cache
// without blocking (preadv2 RWF_NOWAIT), on every backend; otherwise, on the io_uring backend the
// calls are ring operations (IORING_OP_READ/WRITE/FSYNC/OPENAT/STATX) of the fiber's worker, and on
// epoll and kqueue they run on the blocking pool (fiber::blocking). From a plain OS thread they are
// the system calls, blocking it.
// Results are POSIX's: read_some is one read(2) (0 at end of file), read_at fills the buffer or
// stops at end of file, write_all/write_at write everything or fail (O_APPEND appends atomically per
// system call, as write(2)), flags and modes are open(2)'s (O_CLOEXEC is always added), errors are
// the kernel's (ENOENT, EISDIR, EBADF, EINVAL for a misaligned O_DIRECT transfer, ...).
// Stop tokens: on io_uring a stop request on the calling fiber cancels the operation in flight when
// the kernel can (std::errc::operation_canceled; a transfer that completed first still reports its
// bytes); on the blocking pool a call in progress runs to its end.
// A file is not synchronized: the offset-using calls (read_some, write_all) of one file object
// should not run from several fibers at once (read_at/write_at may).
#pragma once

#include <net/buffer.hpp>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace fiber::fs {

// The byte views of fiber::net (net/buffer.hpp), shared by both namespaces.
using mutable_buffer = fiber::net::mutable_buffer;
using const_buffer = fiber::net::const_buffer;

class file {
 public:
  file() noexcept = default;
  explicit file(int fd) noexcept;  // takes ownership of an open descriptor
  file(file&& o) noexcept : hints_(o.hints_), fd_(o.release()) {}
  file& operator=(file&& o) noexcept;
  ~file();
  file(const file&) = delete;
  file& operator=(const file&) = delete;

  // open(2) of `path` with `flags` (O_RDONLY, O_WRONLY | O_CREAT | O_TRUNC, ...; O_CLOEXEC added).
  static file open(const std::filesystem::path& path, int flags, mode_t mode = 0644);
  // On error: a closed file and ec set.
  static file open(const std::filesystem::path& path, int flags, std::error_code& ec) noexcept;
  static file open(const std::filesystem::path& path, int flags, mode_t mode, std::error_code& ec) noexcept;

  bool is_open() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return is_open(); }
  int native_handle() const noexcept { return fd_; }
  int release() noexcept;  // gives up ownership; the file is closed() after

  // One read at the file position (which advances): the bytes read, 0 at end of file.
  std::size_t read_some(mutable_buffer buf);
  std::size_t read_some(mutable_buffer buf, std::error_code& ec) noexcept;
  // Reads at `offset` until `buf` is full or end of file: the bytes read (fewer only at the end).
  std::size_t read_at(std::uint64_t offset, mutable_buffer buf);
  std::size_t read_at(std::uint64_t offset, mutable_buffer buf, std::error_code& ec) noexcept;
  // Writes all of `buf` at the file position (at the end with O_APPEND).
  void write_all(const_buffer buf);
  std::size_t write_all(const_buffer buf, std::error_code& ec) noexcept;  // bytes written before an error
  // Writes all of `buf` at `offset` (the file position does not move).
  void write_at(std::uint64_t offset, const_buffer buf);
  std::size_t write_at(std::uint64_t offset, const_buffer buf, std::error_code& ec) noexcept;
  void sync();  // fsync(2)
  void sync(std::error_code& ec) noexcept;
  void datasync();  // fdatasync(2)
  void datasync(std::error_code& ec) noexcept;
  std::uint64_t size();  // st_size
  std::uint64_t size(std::error_code& ec) noexcept;
  void close();  // idempotent; an error of close(2) is reported (the descriptor is gone anyway)
  void close(std::error_code& ec) noexcept;

 private:
  std::uint8_t hints_ = 0;  // O_DIRECT, in-memory file system (fs/detail/file_io.hpp), found at open
  int fd_ = -1;
};

// The whole file.
std::string read_file(const std::filesystem::path& path);
std::string read_file(const std::filesystem::path& path, std::error_code& ec);  // throws only bad_alloc
// Creates or truncates `path` (mode 0644 before the umask) and writes `data`.
void write_file(const std::filesystem::path& path, std::string_view data);
void write_file(const std::filesystem::path& path, std::string_view data, std::error_code& ec) noexcept;

}  // namespace fiber::fs
