// shared_core.cpp — the readers/writer lock behind fiber::shared_mutex (see shared_mutex.hpp).
#include <sync/detail/mutex_core.hpp>
#include <sync/shared_mutex.hpp>

namespace fiber::detail {

shared_core::~shared_core() {
#ifndef NDEBUG
  if (writer_ || readers_ != 0) sync_misuse("shared_mutex", "destroyed while locked");
#endif
}

bool shared_core::try_lock(bool shared) noexcept {
  guard_.lock();
  bool ok;
  if (shared) {
    ok = !writer_ && waiters_.empty();
    if (ok) ++readers_;
  } else {
    ok = !writer_ && readers_ == 0;
    if (ok) writer_ = true;
  }
  guard_.unlock();
  return ok;
}

bool shared_core::lock_until(clock::time_point deadline, bool shared) noexcept {
  guard_.lock();
  if (shared ? (!writer_ && waiters_.empty()) : (!writer_ && readers_ == 0 && waiters_.empty())) {
    if (shared) ++readers_; else writer_ = true;
    guard_.unlock();
    return true;
  }
  waiter w;
  w.tag = shared ? 0 : 1;
  w.token = prepare_park();
  waiters_.push_back(&w);
  guard_.unlock();
  if (park_until(w.token, deadline) == wake_reason::notified) return true;  // granted by grant_locked
  guard_.lock();
  // A writer leaving the head of the queue may unblock the readers queued behind it.
  if (waiters_.remove(&w)) grant_locked();
  guard_.unlock();
  return false;
}

void shared_core::unlock() noexcept {
  guard_.lock();
  if (!writer_) {
    guard_.unlock();
    sync_misuse("shared_mutex", "unlock() while not exclusively locked");
  }
  writer_ = false;
  grant_locked();
  guard_.unlock();
}

void shared_core::unlock_shared() noexcept {
  guard_.lock();
  if (readers_ == 0) {
    guard_.unlock();
    sync_misuse("shared_mutex", "unlock_shared() with no shared owner");
  }
  if (--readers_ == 0) grant_locked();
  guard_.unlock();
}

void shared_core::grant_locked() noexcept {
  while (waiter* w = waiters_.front()) {
    if (writer_) return;
    if (w->tag == 1) {  // exclusive
      if (readers_ != 0) return;
      waiters_.pop_front();
      writer_ = true;
      if (unpark(w->token)) return;
      writer_ = false;  // it timed out: try the next one
    } else {
      waiters_.pop_front();
      ++readers_;
      if (!unpark(w->token)) --readers_;
    }
  }
}

}  // namespace fiber::detail
