// fd_table.cpp — per-fd state of the hooks (hook/fd_table.hpp): lazy chunks, initialisation on
// first sight, and the close protocol (closing/replacing -> wake -> drain -> release -> real call ->
// unknown), both sides of it: the closer's (begin_close) and the other callers' (begin_op,
// refuse_if_closing).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include <cerrno>
#include <fiber/detail/fork_support.hpp>
#include <fiber/detail/spinlock.hpp>
#include <fiber/this_fiber.hpp>
#include <fs/detail/file_io.hpp>
#include <hook/file_io.hpp>
#include <hook/fd_table.hpp>
#include <hook/original.hpp>
#include <hook/posix_time.hpp>
#include <thread>

namespace weft::hook::detail {

namespace {

constexpr int chunk_bits = 10;
constexpr int chunk_size = 1 << chunk_bits;
static_assert(chunk_size == fd_chunk_size);
constexpr int chunk_count = max_fds / chunk_size;

std::atomic<fd_entry*> chunks[chunk_count];  // zero-initialised (constant init: usable before main)

std::int64_t timeout_ns(int fd, int opt) noexcept {
  timeval tv{};
  socklen_t len = sizeof tv;
  if (WEFT_ORIG(getsockopt)(fd, SOL_SOCKET, opt, &tv, &len) != 0) return 0;
  return timeval_ns(tv);
}

// Switches the real fd to O_NONBLOCK; returns the program's view (true if it already was).
bool make_nonblocking(int fd) noexcept {
  int fl = WEFT_ORIG(fcntl)(fd, F_GETFL);
  if (fl < 0) return false;
  if (!(fl & O_NONBLOCK)) WEFT_ORIG(fcntl)(fd, F_SETFL, fl | O_NONBLOCK);
  return (fl & O_NONBLOCK) != 0;
}

// Waiting for another thread or fiber to finish a short step (initialising an entry, leaving a
// syscall after a close woke it): spin, then yield, then nap (a plain thread waiting in poll() notices
// a close within its 50 ms slice, so the wait can last that long).
void relax(int& spins) noexcept {
  ++spins;
  if (spins < 64) {
    fiber::detail::cpu_relax();
  } else if (spins < 1024) {
    if (fiber::detail::in_fiber())
      fiber::this_fiber::yield();
    else
      std::this_thread::yield();
  } else {
    timespec nap{0, 200'000};
    if (fiber::detail::in_fiber())
      fiber::this_fiber::sleep_for(std::chrono::microseconds(200));
    else
      WEFT_ORIG(nanosleep)(&nap, nullptr);
  }
}

// Fills an entry this thread owns (state == initializing) as managed.
void fill_managed(fd_entry& e, int fd, bool is_socket, bool app_nonblock) noexcept {
  internal_scope guard;
  e.is_socket.store(is_socket, std::memory_order_relaxed);
  e.app_nonblock.store(app_nonblock, std::memory_order_relaxed);
  e.rcv_timeout_ns.store(is_socket ? timeout_ns(fd, SO_RCVTIMEO) : 0, std::memory_order_relaxed);
  e.snd_timeout_ns.store(is_socket ? timeout_ns(fd, SO_SNDTIMEO) : 0, std::memory_order_relaxed);
  e.description.store(0, std::memory_order_relaxed);
  e.regular_file.store(false, std::memory_order_relaxed);
  if (auto* old = e.pd.exchange(fiber::net::detail::poll_descriptor::create(fd, /*owns_fd=*/false))) old->release();
  e.state.store(fd_state::managed, std::memory_order_seq_cst);
}

// Claims the entry for (re)initialisation: waits out other initialisers and closers.
void claim(fd_entry& e) noexcept {
  int spins = 0;
  for (;;) {
    auto s = e.state.load(std::memory_order_acquire);
    if (s == fd_state::initializing || torn_down(s)) {
      relax(spins);
      continue;
    }
    if (e.state.compare_exchange_weak(s, fd_state::initializing, std::memory_order_acq_rel)) return;
  }
}

thread_local int internal_depth = 0;

// The file `fd` names, as (st_dev, st_ino); false if fd is not open.
bool file_identity(int fd, std::uint64_t& dev, std::uint64_t& ino) noexcept {
  struct stat st;
  if (::fstat(fd, &st) != 0) return false;
  dev = static_cast<std::uint64_t>(st.st_dev);
  ino = static_cast<std::uint64_t>(st.st_ino);
  return true;
}

// e is closing: does the number still name the file close() is tearing down (or nothing at all)?
bool names_file_being_closed(const fd_entry& e, int fd) noexcept {
  std::uint64_t dev = 0, ino = 0;
  if (!file_identity(fd, dev, ino)) return true;  // closed for real already: EBADF either way
  return dev == e.closing_dev.load(std::memory_order_acquire) && ino == e.closing_ino.load(std::memory_order_acquire);
}

}  // namespace

bool reentered() noexcept {
  return internal_depth != 0;
}
internal_scope::internal_scope() noexcept {
  ++internal_depth;
}
internal_scope::~internal_scope() {
  --internal_depth;
}

fd_entry* chunk_at(int index) noexcept {
  return chunks[index].load(std::memory_order_acquire);
}

namespace {
// In a child of fork() (fiber/detail/fork_support.hpp): the parent's fibers that were inside hooked
// calls are gone, so their in-flight counts and direction locks are dropped, and a close or dup2
// they were in the middle of is forgotten (the number is looked at afresh on its next use).
void forget_parent_calls() noexcept {
  for (auto& chunk : chunks) {
    fd_entry* c = chunk.load(std::memory_order_relaxed);
    if (!c) continue;
    for (int i = 0; i < chunk_size; ++i) {
      fd_entry& e = c[i];
      e.ops.store(0, std::memory_order_relaxed);
      new (&e.lock[0]) fiber::timed_mutex();
      new (&e.lock[1]) fiber::timed_mutex();
      const fd_state s = e.state.load(std::memory_order_relaxed);
      if (torn_down(s) || s == fd_state::initializing) e.state.store(fd_state::unknown, std::memory_order_relaxed);
    }
  }
  forget_position_locks();  // hook/file_hooks.cpp: held by parent fibers in a file call, maybe
}
__attribute__((constructor)) void register_fd_table_fork_handler() {
  fiber::detail::register_fork_handler({.layer = 2, .child = forget_parent_calls});
}
}  // namespace

void link_description(fd_entry& from, fd_entry& to) noexcept {
  static std::atomic<std::uint32_t> next_id{1};
  auto id = from.description.load(std::memory_order_acquire);
  while (id == 0) {
    auto fresh = next_id.fetch_add(1, std::memory_order_relaxed);
    if (fresh == 0) continue;  // wrapped: 0 means "not shared"
    if (from.description.compare_exchange_strong(id, fresh, std::memory_order_acq_rel)) id = fresh;
  }
  to.description.store(id, std::memory_order_release);
}

fd_entry* entry_for(int fd, bool create) noexcept {
  if (fd < 0 || fd >= max_fds) return nullptr;
  auto& slot = chunks[fd >> chunk_bits];
  fd_entry* c = slot.load(std::memory_order_acquire);
  if (!c) {
    if (!create) return nullptr;
    internal_scope guard;
    auto* fresh = new (std::nothrow) fd_entry[chunk_size];
    if (!fresh) return nullptr;
    if (slot.compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) {
      c = fresh;
    } else {
      delete[] fresh;  // another thread installed one first; nobody saw ours
    }
  }
  return &c[fd & (chunk_size - 1)];
}

fd_entry* lookup_or_init(int fd) noexcept {
  if (reentered()) return nullptr;
  fd_entry* e = entry_for(fd, true);
  if (!e) return nullptr;
  int spins = 0;
  for (;;) {
    auto s = e->state.load(std::memory_order_acquire);
    if (s == fd_state::managed || s == fd_state::plain || torn_down(s)) return e;
    if (s == fd_state::initializing) {
      relax(spins);
      continue;
    }
    if (!e->state.compare_exchange_weak(s, fd_state::initializing, std::memory_order_acq_rel)) continue;
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      e->state.store(fd_state::unknown, std::memory_order_release);
      return nullptr;
    }
    // fds 0-2 usually share their open file description with a parent or a pipeline: switching
    // them to O_NONBLOCK would change what other processes see. They stay plain (blocking the
    // worker when not ready) unless a hook created them.
    if (fd > 2 && (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode))) {
      bool app_nb = make_nonblocking(fd);
      fill_managed(*e, fd, S_ISSOCK(st.st_mode), app_nb);
    } else {
      const bool regular = S_ISREG(st.st_mode);
      e->regular_file.store(regular, std::memory_order_relaxed);
      e->hints_generation.store(file_flags_generation(), std::memory_order_relaxed);
      e->file_hints.store(regular ? fiber::fs::detail::file_hints(fd) : 0, std::memory_order_relaxed);
      const std::uint64_t key = static_cast<std::uint64_t>(st.st_dev) * 0x9E3779B97F4A7C15ull ^ st.st_ino;
      e->file_key.store(static_cast<std::uint32_t>(key ^ (key >> 32)), std::memory_order_relaxed);
      e->state.store(fd_state::plain, std::memory_order_release);
    }
    return e;
  }
}

fd_entry* find_managed(int fd) noexcept {
  if (reentered()) return nullptr;
  fd_entry* e = entry_for(fd, false);
  if (e && e->state.load(std::memory_order_acquire) == fd_state::managed) return e;
  return nullptr;
}

fd_entry* find_entry(int fd) noexcept {
  return reentered() ? nullptr : entry_for(fd, false);
}

void adopt(int fd, bool is_socket, bool app_nonblock) noexcept {
  if (reentered()) return;
  fd_entry* e = entry_for(fd, true);
  if (!e) return;
  claim(*e);
  if (!app_nonblock) make_nonblocking(fd);
  fill_managed(*e, fd, is_socket, app_nonblock);
}

namespace {
std::atomic<std::uint32_t> file_flags_gen{0};
}  // namespace

std::uint32_t file_flags_generation() noexcept {
  return file_flags_gen.load(std::memory_order_acquire);
}

void note_file_flags(int fd, long flags) noexcept {
  // Duplicates of fd share the flag under other numbers (and fd itself may have no entry yet, off a
  // fiber): every regular-file entry re-reads its hints on its next call.
  file_flags_gen.fetch_add(1, std::memory_order_acq_rel);
  if (fd_entry* e = find_entry(fd); e && e->regular_file.load(std::memory_order_relaxed)) {
    const std::uint8_t h = e->file_hints.load(std::memory_order_relaxed);
    const std::uint8_t d = fiber::fs::detail::hint_direct;
    e->file_hints.store(static_cast<std::uint8_t>((flags & O_DIRECT) ? (h | d) : (h & ~d)), std::memory_order_relaxed);
  }
}

void reset(int fd) noexcept {
  if (reentered()) return;
  fd_entry* e = entry_for(fd, false);
  if (!e || e->state.load(std::memory_order_acquire) == fd_state::unknown) return;
  claim(*e);
  {
    internal_scope guard;
    if (auto* old = e->pd.exchange(nullptr)) old->release();
  }
  e->description.store(0, std::memory_order_relaxed);
  e->state.store(fd_state::unknown, std::memory_order_release);
}

bool begin_op(fd_entry& e) noexcept {
  // Refused before counting: once an entry is marked, no caller touches `ops` again, so the closer's
  // drain waits only for operations that began before the mark, however many keep arriving.
  if (e.state.load(std::memory_order_acquire) != fd_state::managed) return false;
  // Counted, then checked again (the closer marks, then reads `ops`: one of the two sees the other).
  e.ops.fetch_add(1, std::memory_order_seq_cst);
  if (e.state.load(std::memory_order_seq_cst) != fd_state::managed) {
    e.ops.fetch_sub(1, std::memory_order_release);
    return false;
  }
  return true;
}

void end_op(fd_entry& e) noexcept {
  e.ops.fetch_sub(1, std::memory_order_release);
}

namespace {

// The marked entry (closing or replacing, owned by the caller) was managed: wake, drain, release.
void tear_down(fd_entry& e) noexcept {
  auto* pd = e.pd.load(std::memory_order_acquire);
  if (pd) {
    internal_scope guard;
    pd->close();  // wakes parked readers and writers: they fail with EBADF (or return their progress)
  }
  // Woken fibers need this worker to leave (relax yields on a fiber); plain threads notice the close
  // within one 50 ms poll slice. No new operation can join (begin_op), so this ends.
  int spins = 0;
  while (e.ops.load(std::memory_order_seq_cst) != 0) relax(spins);  // may yield: not internal
  if ((pd = e.pd.exchange(nullptr))) {
    internal_scope guard;
    pd->release();  // deregisters while the fd is still open
  }
}

}  // namespace

close_result begin_close(int fd) noexcept {
  if (reentered()) return close_result::none;
  fd_entry* e = entry_for(fd, false);
  if (!e) return close_result::none;
  int spins = 0;
  for (;;) {
    auto s = e->state.load(std::memory_order_acquire);
    if (s == fd_state::initializing) {
      relax(spins);
      continue;
    }
    if (torn_down(s)) return close_result::already_closing;
    if (s == fd_state::unknown) return close_result::none;
    if (s == fd_state::plain) {
      if (e->state.compare_exchange_weak(s, fd_state::unknown, std::memory_order_acq_rel)) return close_result::none;
      continue;
    }
    if (e->state.compare_exchange_weak(s, fd_state::closing, std::memory_order_seq_cst)) break;
  }
  // Only the winner records which file is being closed (the fd is open until our real close). A
  // caller that sees `closing` before this store finds no match and looks again (refuse_if_closing).
  std::uint64_t dev = 0, ino = 0;
  file_identity(fd, dev, ino);
  e->closing_dev.store(dev, std::memory_order_release);
  e->closing_ino.store(ino, std::memory_order_release);
  tear_down(*e);
  return close_result::managed;
}

fd_entry* begin_replace(int fd, bool& was_managed) noexcept {
  was_managed = false;
  if (reentered()) return nullptr;
  fd_entry* e = entry_for(fd, true);
  if (!e) return nullptr;
  int spins = 0;
  for (;;) {
    auto s = e->state.load(std::memory_order_acquire);
    if (s == fd_state::initializing || torn_down(s)) {  // another thread's close of fd goes first
      relax(spins);
      continue;
    }
    if (e->state.compare_exchange_weak(s, fd_state::replacing, std::memory_order_seq_cst)) {
      was_managed = s == fd_state::managed;
      break;
    }
  }
  if (was_managed) tear_down(*e);
  return e;
}

void finish_replace(fd_entry& e, int fd, fd_entry* like) noexcept {
  if (!like) {
    e.description.store(0, std::memory_order_relaxed);
    e.state.store(fd_state::unknown, std::memory_order_release);
    return;
  }
  // `like` is the held source of a copy, or e itself (a failed dup2: the number kept its file).
  bool sock = like->is_socket.load(std::memory_order_acquire);
  bool nb = like->app_nonblock.load(std::memory_order_acquire);
  auto rcv = like->rcv_timeout_ns.load(std::memory_order_acquire);
  auto snd = like->snd_timeout_ns.load(std::memory_order_acquire);
  internal_scope guard;
  e.is_socket.store(sock, std::memory_order_relaxed);
  e.app_nonblock.store(nb, std::memory_order_relaxed);
  e.rcv_timeout_ns.store(rcv, std::memory_order_relaxed);
  e.snd_timeout_ns.store(snd, std::memory_order_relaxed);
  if (like != &e) {
    e.description.store(0, std::memory_order_relaxed);
    link_description(*like, e);
  }
  if (auto* old = e.pd.exchange(fiber::net::detail::poll_descriptor::create(fd, /*owns_fd=*/false))) old->release();
  e.state.store(fd_state::managed, std::memory_order_seq_cst);
}

bool refuse_if_closing(int fd) noexcept {
  fd_entry* e = find_entry(fd);
  if (!e) return false;
  int spins = 0;
  for (;;) {
    auto s = e->state.load(std::memory_order_acquire);
    if (s == fd_state::closing && names_file_being_closed(*e, fd)) {
      // A caller that retries on its error (or on anything) must not starve a closer on its worker.
      if (fiber::detail::in_fiber()) fiber::this_fiber::yield();
      errno = EBADF;
      return true;
    }
    if (!torn_down(s)) return false;
    // A replacement (it waits only for operations that began before it), the few instructions
    // between a real close and finish_close, or between the mark and its identity: all end soon.
    relax(spins);
  }
}

bool being_closed(int fd) noexcept {
  const fd_entry* e = fd < 0 ? nullptr : find_entry(fd);
  return e && e->state.load(std::memory_order_acquire) == fd_state::closing && names_file_being_closed(*e, fd);
}

void await_teardown(int fd) noexcept {
  fd_entry* e = find_entry(fd);
  if (!e) return;
  int spins = 0;
  while (torn_down(e->state.load(std::memory_order_acquire))) relax(spins);
}

void make_plain(int fd) noexcept {
  bool was_managed = false;
  fd_entry* e = begin_replace(fd, was_managed);  // now `replacing`, owned by us
  if (!e) return;
  if (was_managed && !e->app_nonblock.load(std::memory_order_acquire)) {
    int fl = WEFT_ORIG(fcntl)(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK)) WEFT_ORIG(fcntl)(fd, F_SETFL, fl & ~O_NONBLOCK);
  }
  e->description.store(0, std::memory_order_relaxed);
  e->regular_file.store(false, std::memory_order_relaxed);  // a socket or FIFO handed to stdio
  e->state.store(fd_state::plain, std::memory_order_release);
}

void finish_close(int fd) noexcept {
  if (fd_entry* e = entry_for(fd, false)) {
    e->description.store(0, std::memory_order_relaxed);
    e->closing_dev.store(0, std::memory_order_relaxed);  // inode 0 names no file: never matches
    e->closing_ino.store(0, std::memory_order_relaxed);
    e->state.store(fd_state::unknown, std::memory_order_release);
  }
}

}  // namespace weft::hook::detail
