// file.cpp — fiber::fs::file and read_file/write_file (fs/fs.hpp) over file_call (file_io.hpp).
#include <fs/fs.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <algorithm>
#include <climits>
#include <cstring>
#include <fs/detail/file_io.hpp>
#include <utility>

namespace fiber::fs {

namespace {

using detail::file_call;
using detail::io_op;
using detail::io_request;

constexpr std::size_t max_transfer = 0x7ffff000;  // Linux's cap on one read/write

std::uint32_t chunk(std::size_t n) noexcept {
  return static_cast<std::uint32_t>(n < max_transfer ? n : max_transfer);
}

// A result of file_call as an error: -ECANCELED from a stop request is operation_canceled.
std::error_code error_of(long res, bool stopped) noexcept {
  if (stopped) return std::make_error_code(std::errc::operation_canceled);
  return {static_cast<int>(-res), std::generic_category()};
}

template <class T>
T or_throw(T value, const std::error_code& ec, const char* what) {
  if (ec) throw std::system_error(ec, what);
  return value;
}

long transfer(io_op op, int fd, void* p, std::size_t n, std::uint64_t offset, std::error_code& ec,
              std::uint8_t hints) noexcept {
  if (fd < 0) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return -1;
  }
  bool stopped = false;
  const long r = file_call({.op = op, .fd = fd, .buf = p, .len = chunk(n), .offset = offset, .hints = hints}, &stopped);
  if (r < 0) {
    ec = error_of(r, stopped);
    return -1;
  }
  ec.clear();
  return r;
}

}  // namespace

file::file(int fd) noexcept : hints_(fd >= 0 ? detail::file_hints(fd) : 0), fd_(fd) {}

file& file::operator=(file&& o) noexcept {
  if (this != &o) {
    std::error_code ignored;
    close(ignored);
    hints_ = o.hints_;
    fd_ = o.release();
  }
  return *this;
}

file::~file() {
  std::error_code ignored;
  close(ignored);
}

int file::release() noexcept {
  return std::exchange(fd_, -1);
}

file file::open(const std::filesystem::path& path, int flags, mode_t mode) {
  std::error_code ec;
  file f = open(path, flags, mode, ec);
  if (ec) throw std::system_error(ec, "weft: open " + path.string());
  return f;
}

file file::open(const std::filesystem::path& path, int flags, std::error_code& ec) noexcept {
  return open(path, flags, 0644, ec);
}

file file::open(const std::filesystem::path& path, int flags, mode_t mode, std::error_code& ec) noexcept {
  bool stopped = false;
  const long r = file_call(
      {.op = io_op::openat, .fd = AT_FDCWD, .flags = flags | O_CLOEXEC, .path = path.c_str(), .mode = mode}, &stopped);
  if (r < 0) {
    ec = error_of(r, stopped);
    return file();
  }
  ec.clear();
  return file(static_cast<int>(r));
}

std::size_t file::read_some(mutable_buffer buf, std::error_code& ec) noexcept {
  const long r = transfer(io_op::read, fd_, buf.data(), buf.size(), io_request::current_position, ec, hints_);
  return r < 0 ? 0 : static_cast<std::size_t>(r);
}

std::size_t file::read_some(mutable_buffer buf) {
  std::error_code ec;
  return or_throw(read_some(buf, ec), ec, "weft: fs::file::read_some");
}

std::size_t file::read_at(std::uint64_t offset, mutable_buffer buf, std::error_code& ec) noexcept {
  std::size_t done = 0;
  ec.clear();
  while (done < buf.size()) {
    auto* p = static_cast<char*>(buf.data()) + done;
    const long r = transfer(io_op::read, fd_, p, buf.size() - done, offset + done, ec, hints_);
    if (r <= 0) break;  // end of file, or the error in ec
    done += static_cast<std::size_t>(r);
  }
  return done;
}

std::size_t file::read_at(std::uint64_t offset, mutable_buffer buf) {
  std::error_code ec;
  return or_throw(read_at(offset, buf, ec), ec, "weft: fs::file::read_at");
}

std::size_t file::write_all(const_buffer buf, std::error_code& ec) noexcept {
  std::size_t done = 0;
  ec.clear();
  while (done < buf.size()) {
    auto* p = const_cast<char*>(static_cast<const char*>(buf.data())) + done;
    const long r = transfer(io_op::write, fd_, p, buf.size() - done, io_request::current_position, ec, hints_);
    if (r < 0) break;
    if (r == 0) {  // a regular file that takes nothing: no space, as write(2) would go on to say
      ec = std::make_error_code(std::errc::no_space_on_device);
      break;
    }
    done += static_cast<std::size_t>(r);
  }
  return done;
}

void file::write_all(const_buffer buf) {
  std::error_code ec;
  write_all(buf, ec);
  if (ec) throw std::system_error(ec, "weft: fs::file::write_all");
}

std::size_t file::write_at(std::uint64_t offset, const_buffer buf, std::error_code& ec) noexcept {
  std::size_t done = 0;
  ec.clear();
  while (done < buf.size()) {
    auto* p = const_cast<char*>(static_cast<const char*>(buf.data())) + done;
    const long r = transfer(io_op::write, fd_, p, buf.size() - done, offset + done, ec, hints_);
    if (r < 0) break;
    if (r == 0) {
      ec = std::make_error_code(std::errc::no_space_on_device);
      break;
    }
    done += static_cast<std::size_t>(r);
  }
  return done;
}

void file::write_at(std::uint64_t offset, const_buffer buf) {
  std::error_code ec;
  write_at(offset, buf, ec);
  if (ec) throw std::system_error(ec, "weft: fs::file::write_at");
}

void file::sync(std::error_code& ec) noexcept {
  transfer(io_op::fsync, fd_, nullptr, 0, 0, ec, 0);
}

void file::sync() {
  std::error_code ec;
  sync(ec);
  if (ec) throw std::system_error(ec, "weft: fs::file::sync");
}

void file::datasync(std::error_code& ec) noexcept {
  transfer(io_op::fdatasync, fd_, nullptr, 0, 0, ec, 0);
}

void file::datasync() {
  std::error_code ec;
  datasync(ec);
  if (ec) throw std::system_error(ec, "weft: fs::file::datasync");
}

std::uint64_t file::size(std::error_code& ec) noexcept {
  if (fd_ < 0) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return 0;
  }
  bool stopped = false;
#if defined(WEFT_LINUX_FILE_IO)
  struct statx stx {};
  const long r = file_call(
      {.op = io_op::statx, .fd = fd_, .buf = &stx, .flags = AT_EMPTY_PATH, .path = "", .mode = STATX_SIZE}, &stopped);
  const std::uint64_t bytes = stx.stx_size;
#else
  struct stat st {};
  const long r = file_call({.op = io_op::statx, .fd = fd_, .buf = &st}, &stopped);  // an fstat (file_io.hpp)
  const auto bytes = static_cast<std::uint64_t>(st.st_size);
#endif
  if (r < 0) {
    ec = error_of(r, stopped);
    return 0;
  }
  ec.clear();
  return bytes;
}

std::uint64_t file::size() {
  std::error_code ec;
  return or_throw(size(ec), ec, "weft: fs::file::size");
}

void file::close(std::error_code& ec) noexcept {
  ec.clear();
  if (fd_ < 0) return;
  const long r = file_call({.op = io_op::close, .fd = std::exchange(fd_, -1)});
  if (r < 0 && r != -EINTR) ec = {static_cast<int>(-r), std::generic_category()};
}

void file::close() {
  std::error_code ec;
  close(ec);
  if (ec) throw std::system_error(ec, "weft: fs::file::close");
}

std::string read_file(const std::filesystem::path& path, std::error_code& ec) {
  file f = file::open(path, O_RDONLY, ec);
  if (ec) return {};
  std::string out;
  // Size first (one statx), then read from the file position until a read returns 0, the one sure
  // end of file: a file that grows meanwhile is read whole, one that shrinks (or a /proc file
  // reporting 0) ends at its real end, and a FIFO or character device (which have no offsets to
  // read at) is read until its writer closes, in whatever pieces it delivers.
  const std::uint64_t hint = f.size(ec);
  if (ec) return {};
  out.resize(hint > 0 ? static_cast<std::size_t>(hint) : 4096);
  std::size_t done = 0;
  for (;;) {
    std::size_t n = 0;
    if (done == out.size()) {
      // Full. A file of exactly its reported size (the common case) ends here: look through a
      // small buffer first, so that confirming the end costs no reallocation of the whole.
      char probe[512];
      n = f.read_some(mutable_buffer(probe, sizeof probe), ec);
      if (!ec && n > 0) {
        out.resize(std::max(out.size() * 2, done + n));
        std::memcpy(out.data() + done, probe, n);
      }
    } else {
      n = f.read_some(mutable_buffer(out.data() + done, out.size() - done), ec);
    }
    if (ec) return {};
    if (n == 0) break;
    done += n;
  }
  out.resize(done);
  return out;
}

std::string read_file(const std::filesystem::path& path) {
  std::error_code ec;
  std::string s = read_file(path, ec);
  if (ec) throw std::system_error(ec, "weft: fs::read_file " + path.string());
  return s;
}

void write_file(const std::filesystem::path& path, std::string_view data, std::error_code& ec) noexcept {
  file f = file::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, ec);
  if (ec) return;
  f.write_at(0, data, ec);
  if (ec) return;
  f.close(ec);
}

void write_file(const std::filesystem::path& path, std::string_view data) {
  std::error_code ec;
  write_file(path, data, ec);
  if (ec) throw std::system_error(ec, "weft: fs::write_file " + path.string());
}

}  // namespace fiber::fs
