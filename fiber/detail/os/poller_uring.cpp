// poller_uring.cpp — the io_uring backend of os/poller.hpp (Linux, liburing): one ring per worker.
//
// Readiness (the poller contract): add() arms a multishot IORING_OP_POLL_ADD for read and write
// (edge-like: one completion per wake-up of the file's wait queue; arming reports readiness that
// already exists); when the kernel ends a multishot it is re-armed. remove() ends it with
// IORING_OP_ASYNC_CANCEL (queue_poll_remove says why not POLL_REMOVE) and, on the owner, runs the
// cancellation at once: the poll holds a reference to the file, so a closed socket stays open until
// the kernel dropped it. Completions (os/completion.hpp): socket and file operations run whole in
// the kernel; the caller's record is the user_data, and ASYNC_CANCEL asks for an early end.
//
// The one place the worker sleeps: wait() hands every queued submission to the kernel and waits for
// a completion in one io_uring_enter, bounded by the next timer (IORING_ENTER_EXT_ARG: nanoseconds).
// On the busy path, wait(0) makes no system call at all when nothing is queued and the kernel has no
// deferred work for us (IORING_SQ_TASKRUN clear): completions are read from the shared CQ ring.
// wake() from other threads writes an eventfd that a ring READ waits on; the worker's `sleeping`
// flag protocol means it is only written when the worker really sleeps.
//
// Ring setup: SINGLE_ISSUER | DEFER_TASKRUN (Linux 6.1: completions are produced only when the owner
// asks, no inter-processor interrupts), created disabled (R_DISABLED) on whichever thread builds the
// runtime and enabled by the owner worker on first use, so that it is the ring's single issuer. Older
// kernels get COOP_TASKRUN, then a plain ring. Sizes are modest (locked memory is scarce): 512 SQ and
// 4096 CQ entries; the kernel keeps overflowing completions (IORING_FEAT_NODROP).
//
// user_data: bit 63 set: a poll registration, (generation << 32 | fd) — a completion for an older
// generation, or a removed one, is stale and ignored (late events are allowed, never required);
// else a pointer with the low 3 bits as tag: 0 an io_completion*, 1 the wake-up read, 2 ignore.
//
// Threads: only the owner submits (SINGLE_ISSUER). remove() from another thread queues its removal
// for the owner (and wakes it if it sleeps); the registration counts in `registered` until the owner
// has submitted the cancellation, so a busy owner still gets to it in its next scheduling round — the
// file is only really closed once the kernel dropped the poll's reference.
//
// Fork: the ring's memory is excluded from the child (io_uring_ring_dontfork), so the child cannot
// touch the parent's queues; abandon_after_fork() only closes the child's descriptors.
//
// Test knob: WEFT_TEST_IO_URING_FAIL=1 makes the constructor fail as a kernel without io_uring would,
// so the fallback to epoll (and its stderr line) can be tested.
#include <fiber/detail/os/poller.hpp>

#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string_view>
#include <system_error>
#include <vector>

namespace fiber::detail {

namespace {

constexpr unsigned sq_entries = 512;
constexpr unsigned cq_entries = 4096;
// A wait that brought this many completions may have been cut short by the kernel's batch limit
// (20 deferred task-work items per io_uring_enter): the next wait(0) drains.
constexpr unsigned behind_threshold = 16;
constexpr int max_drain_rounds = 16;  // per wait(0): at most this many enters (320 deferred items)

constexpr std::uint64_t poll_bit = std::uint64_t{1} << 63;
constexpr std::uint64_t tag_mask = 7;
constexpr std::uint64_t tag_completion = 0;
constexpr std::uint64_t tag_wake = 1;
constexpr std::uint64_t tag_ignore = 2;
constexpr std::uint32_t gen_mask = 0x7fffffff;

constexpr unsigned poll_interest = POLLIN | POLLOUT | POLLRDHUP | POLLPRI;

// Receives arm the socket's poll first instead of trying the receive at submission: a fiber that
// submits one has usually just found nothing to read (hybrid mode: EAGAIN) or just answered the
// peer, which has not replied yet (request/response). Data already there fires the poll at once.
// WEFT_IO_URING_RECV_TRY_FIRST=1 turns it off (the measurement's other arm).
const std::uint16_t recv_poll_first = [] {
  const char* env = std::getenv("WEFT_IO_URING_RECV_TRY_FIRST");
  return static_cast<std::uint16_t>(env && *env == '1' ? 0 : IORING_RECVSEND_POLL_FIRST);
}();

std::uint64_t poll_user_data(int fd, std::uint32_t gen) noexcept {
  return poll_bit | (std::uint64_t{gen & gen_mask} << 32) | static_cast<std::uint32_t>(fd);
}

std::uint32_t from_poll(unsigned m) noexcept {
  std::uint32_t bits = 0;
  if (m & POLLIN) bits |= io_readable;
  if (m & POLLOUT) bits |= io_writable;
  if (m & POLLERR) bits |= io_error;
  if (m & POLLHUP) bits |= io_hangup;
  if (m & POLLRDHUP) bits |= io_read_hangup;
  if (m & POLLPRI) bits |= io_priority;
  return bits;
}

// ---- how each operation kind runs (docs/design.md §7: the measured decision per kind)

struct mode_table {
  op_mode modes[static_cast<int>(io_op::count_)];
};

constexpr const char* op_names[] = {"recv",  "send",   "recvmsg", "sendmsg",   "accept", "connect", "read", "write",
                                    "readv", "writev", "fsync",   "fdatasync", "openat", "close",   "statx"};
static_assert(sizeof op_names / sizeof op_names[0] == static_cast<int>(io_op::count_));

// The defaults, then WEFT_IO_URING_OPS=kind=mode,... (a benchmarking knob: recv=readiness,send=completion).
const mode_table& modes() {
  static const mode_table table = [] {
    mode_table t{};
    for (auto& m : t.modes) m = op_mode::completion;  // file operations: always
    auto set = [&](io_op op, op_mode m) { t.modes[static_cast<int>(op)] = m; };
    set(io_op::recv, op_mode::completion);
    set(io_op::recvmsg, op_mode::completion);
    set(io_op::send, op_mode::readiness);
    set(io_op::sendmsg, op_mode::readiness);
    set(io_op::accept, op_mode::readiness);
    set(io_op::connect, op_mode::readiness);
    const char* env = std::getenv("WEFT_IO_URING_OPS");
    std::string_view rest = env ? env : "";
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      auto eq = item.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view name = item.substr(0, eq), value = item.substr(eq + 1);
      op_mode m;
      if (value == "readiness") {
        m = op_mode::readiness;
      } else if (value == "hybrid") {
        m = op_mode::hybrid;
      } else if (value == "completion") {
        m = op_mode::completion;
      } else {
        continue;
      }
      // "all" means every socket operation (they come before read); file operations stay in the ring.
      for (int i = 0; i < static_cast<int>(io_op::count_); ++i)
        if (name == op_names[i] || (name == "all" && i < static_cast<int>(io_op::read))) t.modes[i] = m;
    }
    return t;
  }();
  return table;
}

// ---- poll registrations by fd: chunks allocated by the owner on first use, never freed

struct poll_entry {
  // generation << 1 | active. The owner writes it on add; any thread clears `active` on remove.
  std::atomic<std::uint64_t> state{0};
  io_handler* handler = nullptr;  // owner thread only
};

constexpr int chunk_bits = 10;
constexpr int chunk_size = 1 << chunk_bits;
constexpr int max_fds = 1 << 20;

thread_local const void* tls_owner_of = nullptr;  // the ring this thread issues to (its worker's)

class uring_poller final : public poller, public completion_engine {
 public:
  uring_poller() {
    if (const char* knob = std::getenv("WEFT_TEST_IO_URING_FAIL"); knob && *knob && std::strcmp(knob, "0") != 0)
      throw std::system_error(ENOSYS, std::generic_category(), "weft: io_uring_setup (WEFT_TEST_IO_URING_FAIL)");
    for (int left = test_io_uring_rings_before_failure.load(); left >= 0;) {
      if (left == 0) throw std::system_error(ENOMEM, std::generic_category(), "weft: io_uring_setup (test hook)");
      if (test_io_uring_rings_before_failure.compare_exchange_weak(left, left - 1)) break;
    }
    init_ring();
    wakefd_ = ::eventfd(0, EFD_CLOEXEC);  // blocking: a ring READ on it waits (poll-armed in the kernel)
    if (wakefd_ < 0) {
      const int err = errno;
      release_ring();
      throw std::system_error(err, std::generic_category(), "weft: eventfd");
    }
    arm_wake();  // queued now, submitted by the owner's first io_uring_enter
  }
  ~uring_poller() override { shut_down(); }

  fiber::io_backend backend() const noexcept override { return fiber::io_backend::io_uring; }
  completion_engine* completions() noexcept override { return this; }

  // ---- readiness

  std::error_code add(int fd, io_handler* h) noexcept override {
    if (dead_.load(std::memory_order_acquire) || !own()) return std::make_error_code(std::errc::bad_file_descriptor);
    poll_entry* e = entry(fd, true);
    if (!e) return std::make_error_code(std::errc::no_buffer_space);
    const std::uint64_t gen = ((e->state.load(std::memory_order_relaxed) >> 1) + 1) & gen_mask;
    e->handler = h;
    e->state.store(gen << 1 | 1, std::memory_order_release);
    if (!arm_poll(fd, static_cast<std::uint32_t>(gen))) {
      e->state.store(gen << 1, std::memory_order_release);
      return std::make_error_code(std::errc::resource_unavailable_try_again);
    }
    registered.fetch_add(1, std::memory_order_relaxed);
    return {};
  }

  void remove(int fd) noexcept override {
    if (dead_.load(std::memory_order_acquire)) return;
    poll_entry* e = entry(fd, false);
    if (!e) return;
    std::uint64_t s = e->state.load(std::memory_order_acquire);
    do {
      if (!(s & 1)) return;  // not registered (or removed already)
    } while (!e->state.compare_exchange_weak(s, s & ~std::uint64_t{1}, std::memory_order_acq_rel));
    const std::uint64_t target = poll_user_data(fd, static_cast<std::uint32_t>(s >> 1));
    if (tls_owner_of == this) {
      // Submitted now, and the cancellation run (deferred task work): until the kernel drops the
      // poll, it holds the file open, and the peer would not see the close.
      if (queue_poll_remove(target)) io_uring_submit_and_get_events(&ring_);
      registered.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    {
      std::lock_guard lk(remote_mu_);
      remote_removes_.push_back(target);
      remote_pending_.store(true, std::memory_order_release);
    }
    if (sleeping.load(std::memory_order_seq_cst) && sleeping.exchange(false)) wake();
  }

  int wait(std::int64_t timeout_ns) noexcept override {
    if (dead_.load(std::memory_order_acquire) || !own()) return 0;
    if (remote_pending_.load(std::memory_order_acquire)) drain_remote_removes();
    if (timeout_ns == 0) {
      // The kernel runs at most 20 deferred completions per io_uring_enter(GETEVENTS) that waits for
      // none, and clears IORING_SQ_TASKRUN even when it leaves some behind. So: enter when there is
      // something to submit, the kernel flags work, or the last enter may have stopped short
      // (`behind_`); and enter again while an enter brings a full batch. (A zero-timeout wait for
      // more would drain in one call, but arms a timer: measured dearer than a few plain enters.)
      const unsigned kflags = IO_URING_READ_ONCE(*ring_.sq.kflags);
      if (io_uring_sq_ready(&ring_) == 0 && !(kflags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) && !behind_)
        return reap_all();
      int n = 0;
      for (int round = 0; round < max_drain_rounds; ++round) {
        io_uring_submit_and_get_events(&ring_);
        unsigned seen = 0;
        n += reap(seen);
        behind_ = seen >= behind_threshold;
        if (!behind_) break;
      }
      return n;
    }
    io_uring_cqe* cqe = nullptr;
    if (timeout_ns < 0) {
      io_uring_submit_and_wait(&ring_, 1);
    } else {
      __kernel_timespec ts{timeout_ns / 1'000'000'000, timeout_ns % 1'000'000'000};
      io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    unsigned seen = 0;
    const int n = reap(seen);
    behind_ = seen >= behind_threshold;
    return n;
  }

  void wake() noexcept override {
    const int fd = wakefd_.load(std::memory_order_acquire);
    if (fd < 0) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(fd, &one, sizeof one);
  }

  void shut_down() noexcept override {
    if (dead_.exchange(true, std::memory_order_acq_rel)) return;
    release_ring();  // closing the ring cancels what is still in flight in the kernel
    if (int fd = wakefd_.exchange(-1); fd >= 0) ::close(fd);
  }

  // The ring's memory was never mapped into the child (dontfork) or is unmapped here without a
  // single submission; closing the child's descriptors leaves the parent's ring alone.
  void abandon_after_fork() noexcept override {
    if (dead_.exchange(true, std::memory_order_acq_rel)) return;
    if (ring_live_) {
      if (!dontfork_) {
        const std::size_t sqe_bytes = sizeof(io_uring_sqe) * ring_.sq.ring_entries;
        ::munmap(ring_.sq.sqes, sqe_bytes);
        ::munmap(ring_.sq.ring_ptr, ring_.sq.ring_sz);
        if (ring_.cq.ring_ptr != ring_.sq.ring_ptr) ::munmap(ring_.cq.ring_ptr, ring_.cq.ring_sz);
      }
      ::close(ring_.ring_fd);
      ring_live_ = false;
    }
    if (int fd = wakefd_.exchange(-1); fd >= 0) ::close(fd);
  }

  // ---- completions

  op_mode mode(io_op op) const noexcept override { return modes().modes[static_cast<int>(op)]; }

  bool submit(const io_request& r, io_completion& c) noexcept override {
    if (dead_.load(std::memory_order_relaxed) || !own()) return false;
    io_uring_sqe* sqe = next_sqe();
    if (!sqe) return false;
    prepare(sqe, r);
    io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(&c) | tag_completion);
    registered.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  bool cancel(io_completion& c) noexcept override {
    if (dead_.load(std::memory_order_relaxed) || !own()) return false;
    io_uring_sqe* sqe = next_sqe();
    if (!sqe) return false;
    io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(&c) | tag_completion, 0);
    io_uring_sqe_set_data64(sqe, tag_ignore);
    return true;
  }

 private:
  void init_ring() {
    // Newest setup first; each older kernel rejects the flags it does not know with EINVAL.
    const unsigned attempts[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_R_DISABLED,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        0,
    };
    int r = -EINVAL;
    for (unsigned flags : attempts) {
      io_uring_params p{};
      p.flags = flags | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
      p.cq_entries = cq_entries;
      r = io_uring_queue_init_params(sq_entries, &ring_, &p);
      if (r == -EINVAL) {
        p.flags &= ~IORING_SETUP_SUBMIT_ALL;  // 5.18
        r = io_uring_queue_init_params(sq_entries, &ring_, &p);
      }
      if (r != -EINVAL) {
        disabled_ = (flags & IORING_SETUP_R_DISABLED) != 0;
        break;
      }
    }
    if (r < 0) throw std::system_error(-r, std::generic_category(), "weft: io_uring_queue_init");
    ring_live_ = true;
    const unsigned need = IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG | IORING_FEAT_FAST_POLL;
    if ((ring_.features & need) != need) {
      release_ring();
      throw std::system_error(ENOSYS, std::generic_category(), "weft: io_uring lacks NODROP/EXT_ARG/FAST_POLL");
    }
    if (io_uring_probe* probe = io_uring_get_probe_ring(&ring_)) {
      bool ok = true;
      for (int op :
           {IORING_OP_POLL_ADD, IORING_OP_POLL_REMOVE, IORING_OP_ASYNC_CANCEL, IORING_OP_RECV, IORING_OP_SEND,
            IORING_OP_RECVMSG, IORING_OP_SENDMSG, IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_READ, IORING_OP_WRITE,
            IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_OPENAT, IORING_OP_CLOSE, IORING_OP_STATX})
        ok = ok && io_uring_opcode_supported(probe, op);
      io_uring_free_probe(probe);
      if (!ok) {
        release_ring();
        throw std::system_error(ENOSYS, std::generic_category(), "weft: io_uring lacks an operation weft uses");
      }
    }
    dontfork_ = io_uring_ring_dontfork(&ring_) == 0;
  }

  void release_ring() noexcept {
    if (!ring_live_) return;
    ring_live_ = false;
    io_uring_queue_exit(&ring_);
  }

  // The owner's first call enables a ring created disabled: this thread becomes its single issuer.
  bool own() noexcept {
    if (tls_owner_of == this) return true;
    if (enabled_.exchange(true, std::memory_order_acq_rel)) return false;  // another thread owns it
    if (disabled_ && io_uring_register(ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) < 0) return false;
    tls_owner_of = this;
    return true;
  }

  poll_entry* entry(int fd, bool create) noexcept {
    if (fd < 0 || fd >= max_fds) return nullptr;
    auto& slot = chunks_[fd >> chunk_bits];
    poll_entry* c = slot.load(std::memory_order_acquire);
    if (!c) {
      if (!create) return nullptr;  // only the owner creates, so no race between creators
      c = new (std::nothrow) poll_entry[chunk_size];
      if (!c) return nullptr;
      slot.store(c, std::memory_order_release);
    }
    return &c[fd & (chunk_size - 1)];
  }

  io_uring_sqe* next_sqe() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) {  // the queue is full: hand it to the kernel now
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

  bool arm_poll(int fd, std::uint32_t gen) noexcept {
    io_uring_sqe* sqe = next_sqe();
    if (!sqe) return false;
    io_uring_prep_poll_multishot(sqe, fd, poll_interest);
    io_uring_sqe_set_data64(sqe, poll_user_data(fd, gen));
    return true;
  }

  bool queue_poll_remove(std::uint64_t target) noexcept {
    io_uring_sqe* sqe = next_sqe();
    if (!sqe) return false;
    // ASYNC_CANCEL, not POLL_REMOVE: a multishot poll whose wake-up is still being processed (its
    // task work deferred until our next io_uring_enter) makes POLL_REMOVE fail with EALREADY and
    // stays armed, holding the file open for ever; a cancel marks it and it ends with ECANCELED.
    io_uring_prep_cancel64(sqe, target, 0);
    io_uring_sqe_set_data64(sqe, tag_ignore);
    return true;
  }

  void arm_wake() noexcept {
    io_uring_sqe* sqe = next_sqe();
    if (!sqe) return;
    io_uring_prep_read(sqe, wakefd_.load(std::memory_order_relaxed), &wake_value_, sizeof wake_value_, 0);
    io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(this) | tag_wake);
  }

  void drain_remote_removes() noexcept {
    std::vector<std::uint64_t> batch;
    {
      std::lock_guard lk(remote_mu_);
      batch.swap(remote_removes_);
      remote_pending_.store(false, std::memory_order_relaxed);
    }
    for (std::uint64_t target : batch) {
      queue_poll_remove(target);
      registered.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  static void prepare(io_uring_sqe* sqe, const io_request& r) noexcept {
    const std::uint64_t off = r.offset == io_request::current_position ? ~std::uint64_t{0} : r.offset;
    switch (r.op) {
      case io_op::recv:
        io_uring_prep_recv(sqe, r.fd, r.buf, r.len, r.flags);
        sqe->ioprio |= recv_poll_first;
        break;
      case io_op::send:
        io_uring_prep_send(sqe, r.fd, r.buf, r.len, r.flags);
        break;
      case io_op::recvmsg:
        io_uring_prep_recvmsg(sqe, r.fd, static_cast<msghdr*>(r.buf), static_cast<unsigned>(r.flags));
        sqe->ioprio |= recv_poll_first;
        break;
      case io_op::sendmsg:
        io_uring_prep_sendmsg(sqe, r.fd, static_cast<const msghdr*>(r.buf), static_cast<unsigned>(r.flags));
        break;
      case io_op::accept:
        io_uring_prep_accept(sqe, r.fd, nullptr, nullptr, r.flags);
        break;
      case io_op::connect:
        io_uring_prep_connect(sqe, r.fd, static_cast<const sockaddr*>(r.buf), r.len);
        break;
      case io_op::read:
        io_uring_prep_read(sqe, r.fd, r.buf, r.len, off);
        break;
      case io_op::write:
        io_uring_prep_write(sqe, r.fd, r.buf, r.len, off);
        break;
      case io_op::readv:
        io_uring_prep_readv(sqe, r.fd, static_cast<const iovec*>(r.buf), r.len, off);
        break;
      case io_op::writev:
        io_uring_prep_writev(sqe, r.fd, static_cast<const iovec*>(r.buf), r.len, off);
        break;
      case io_op::fsync:
        io_uring_prep_fsync(sqe, r.fd, 0);
        break;
      case io_op::fdatasync:
        io_uring_prep_fsync(sqe, r.fd, IORING_FSYNC_DATASYNC);
        break;
      case io_op::openat:
        io_uring_prep_openat(sqe, r.fd, r.path, r.flags, r.mode);
        break;
      case io_op::close:
        io_uring_prep_close(sqe, r.fd);
        break;
      case io_op::statx:
        io_uring_prep_statx(sqe, r.fd, r.path, r.flags, r.mode, static_cast<struct statx*>(r.buf));
        break;
      case io_op::count_:
        io_uring_prep_nop(sqe);
        break;
    }
  }

  int reap_all() noexcept {
    unsigned seen = 0;
    return reap(seen);
  }

  // Dispatches every completion in the CQ ring; returns how many descriptor events and completions,
  // adds how many CQEs it saw to `total`.
  int reap(unsigned& total) noexcept {
    int dispatched = 0;
    for (;;) {
      unsigned head;
      unsigned seen = 0;
      io_uring_cqe* cqe;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        dispatched += dispatch(cqe->user_data, cqe->res, cqe->flags);
      }
      if (seen == 0) return dispatched;
      total += seen;
      io_uring_cq_advance(&ring_, seen);
    }
  }

  int dispatch(std::uint64_t ud, int res, std::uint32_t flags) noexcept {
    if (ud & poll_bit) {
      const int fd = static_cast<int>(static_cast<std::uint32_t>(ud));
      const std::uint32_t gen = static_cast<std::uint32_t>(ud >> 32) & gen_mask;
      poll_entry* e = entry(fd, false);
      if (!e || e->state.load(std::memory_order_acquire) != (std::uint64_t{gen} << 1 | 1)) return 0;  // stale
      io_handler* h = e->handler;
      const bool more = (flags & IORING_CQE_F_MORE) != 0;
      if (res >= 0) {
        if (!more) arm_poll(fd, gen);  // the kernel ended the multishot (overflow, ...): arm it again
        h->on_io_ready(from_poll(static_cast<unsigned>(res)), 0);
        return 1;
      }
      if (res == -ECANCELED) return 0;
      // The poll failed (no memory, ...): wake both sides so their syscalls report the truth, and
      // try again unless the descriptor is unusable.
      if (!more && res != -EBADF && res != -EINVAL && res != -EPERM) arm_poll(fd, gen);
      h->on_io_ready(io_error | io_hangup, 0);
      return 1;
    }
    switch (ud & tag_mask) {
      case tag_completion:
        registered.fetch_sub(1, std::memory_order_relaxed);
        reinterpret_cast<io_completion*>(static_cast<std::uintptr_t>(ud))->on_complete(res, flags);
        return 1;
      case tag_wake:
        if (!dead_.load(std::memory_order_relaxed) && res != -EBADF) arm_wake();
        return 0;
      default:
        return 0;
    }
  }

  io_uring ring_{};
  bool ring_live_ = false;
  bool disabled_ = false;
  bool dontfork_ = false;
  bool behind_ = false;  // the last enter may have left deferred completions in the kernel
  std::atomic<bool> enabled_{false};
  std::atomic<bool> dead_{false};
  std::atomic<int> wakefd_{-1};
  std::uint64_t wake_value_ = 0;
  std::atomic<poll_entry*> chunks_[max_fds / chunk_size] = {};
  std::mutex remote_mu_;
  std::vector<std::uint64_t> remote_removes_;  // under remote_mu_
  std::atomic<bool> remote_pending_{false};
};

}  // namespace

std::unique_ptr<poller> make_uring_poller() {
  return std::make_unique<uring_poller>();
}

}  // namespace fiber::detail
