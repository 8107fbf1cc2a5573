// blocking_pool.cpp — the offload threads behind fiber::blocking(f).
//
// Invariant: a job's fiber is parked (or about to be: its token is PARKING) from the moment the
// job is queued until the offload thread unparks it after the job returns, so the job's state may
// live on the fiber's stack.
#include <fiber/blocking.hpp>
#include <fiber/detail/fork_support.hpp>

#include <fiber/detail/debug_registry.hpp>
#include <fiber/detail/os/cpu.hpp>

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <new>
#include <deque>
#include <mutex>
#include <thread>

namespace fiber::detail {

namespace {

// The hand-off between the submitting fiber and the offload thread. The fiber prepares its park
// only after submit() returned: submit() takes a std::mutex, which the hook library turns into a
// fiber mutex that may itself park — a token prepared before it would be stale by then.
struct offload_wait {
  static constexpr int queued = 0, parking = 1, done = 2;
  std::atomic<int> state{queued};
  park_token token;  // written before state becomes `parking`
};

struct job {
  void (*fn)(void*);
  void* arg;
  offload_wait* wait;
};

class offload_pool {
 public:
  void submit(job j) {
    std::unique_lock lk(mu_);
    queue_.push_back(j);
    if (idle_ == 0 && threads_ < max_threads()) {
      ++threads_;
      tids_.push_back(0);
      std::thread([this, slot = tids_.size() - 1] { serve(slot); }).detach();
    } else {
      cv_.notify_one();
    }
  }

 private:
  static unsigned max_threads() {
    static const unsigned n = [] {
      const char* env = std::getenv("WEFT_BLOCKING_THREADS");
      int v = env ? std::atoi(env) : 0;
      return v > 0 ? static_cast<unsigned>(v) : 64u;
    }();
    return n;
  }

  void serve(std::size_t slot) {
    name_current_thread("weft-blocking");
    std::unique_lock lk(mu_);
    tids_[slot] = current_thread_id();
    for (;;) {
      while (queue_.empty()) {
        ++idle_;
        cv_.wait(lk);
        --idle_;
      }
      job j = queue_.front();
      queue_.pop_front();
      lk.unlock();
      j.fn(j.arg);
      // After this exchange the fiber may return (and its stack reuse `wait`) unless it is parking.
      if (j.wait->state.exchange(offload_wait::done, std::memory_order_acq_rel) == offload_wait::parking)
        unpark(j.wait->token);  // the fiber cannot leave before this wake-up: `wait` is still alive
      lk.lock();
    }
  }

  friend void fork_prepare() noexcept;
  friend void fork_parent() noexcept;

 public:
  blocking_pool_info snapshot() {
    std::lock_guard lk(mu_);
    return {threads_, idle_, queue_.size(), tids_};
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<job> queue_;
  unsigned threads_ = 0;
  unsigned idle_ = 0;
  std::vector<int> tids_;  // the offload threads (0 until a thread has started)
};

offload_pool* the_pool = nullptr;

// fork (fork_support.hpp): the queue's lock is held across fork(); the child starts a new, empty
// pool (its threads and the parent's queued jobs are not in the child).
void fork_prepare() noexcept {
  the_pool->mu_.lock();
}
void fork_parent() noexcept {
  the_pool->mu_.unlock();
}
void fork_child() noexcept {
  the_pool = new (std::nothrow) offload_pool();  // the old one is forgotten
  if (!the_pool) std::abort();                   // a fork child without memory for a queue
}

offload_pool& pool() {
  static const bool made = [] {
    the_pool = new offload_pool();  // never destroyed: offload threads may outlive main
    register_fork_handler({.layer = 0, .prepare = fork_prepare, .parent = fork_parent, .child = fork_child});
    return true;
  }();
  (void)made;
  return *the_pool;
}

}  // namespace

blocking_pool_info blocking_pool_snapshot() {
  return pool().snapshot();
}

void run_offloaded(void (*fn)(void*), void* arg) {
  wait_scope ws(wait_kind::blocking, reinterpret_cast<const void*>(fn));
  offload_wait w;
  pool().submit(job{fn, arg, &w});
  w.token = prepare_park();
  if (w.state.exchange(offload_wait::parking, std::memory_order_acq_rel) == offload_wait::done) return;  // already ran
  park(w.token);
}

}  // namespace fiber::detail
