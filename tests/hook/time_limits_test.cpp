// time_limits_test.cpp — extreme time arguments to the hooked calls on a fiber: a timeout of
// tv_sec = max time_t (or anything past what int64 nanoseconds hold) waits (practically) forever
// instead of overflowing into "expired" or a tiny timeout, and an absolute time before the epoch
// gives what libc gives at once (ETIMEDOUT for the pthread waits, EINVAL for clock_nanosleep).
//
// Every wait runs on its own fiber of ONE worker; a sibling fiber checks after 100 ms that it is
// still waiting, then ends it by other means (a write to the pipe it polls, a signal, an unlock). A
// sleep cannot be ended: its fiber stays parked, detached (the runtime is never destroyed). The
// values include {18446744073, 709551617}: 2^64 + 1 ns, which a 64-bit nanosecond product wraps to
// 1 ns, and 9.3e9 s, just past int64 nanoseconds (wraps negative).
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <fiber/fiber.hpp>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../one_worker.hpp"
#include "tsan_skips.hpp"

using weft_test::one_worker;
using namespace std::chrono_literals;

namespace {

constexpr time_t time_max = std::numeric_limits<time_t>::max();
constexpr time_t time_min = std::numeric_limits<time_t>::min();

// Relative or absolute times no clock reaches for centuries.
const std::vector<timespec> huge_timespecs = {
    {time_max, 0},
    {time_max, 999'999'999},
    {18'446'744'073, 709'551'617},  // 2^64 ns + 1 ns
    {9'300'000'000, 0},             // just past int64 nanoseconds
};
const std::vector<timeval> huge_timevals = {
    {time_max, 0},
    {time_max, 999'999},
    {18'446'744'073, 709'552},  // 2^64 ns + 384 ns
    {9'300'000'000, 0},
};
// Absolute times before the epoch.
const std::vector<timespec> negative_timespecs = {{-1, 0}, {-1, 999'999'999}, {time_min, 0}};

std::string str(const timespec& ts) {
  return "{" + std::to_string(ts.tv_sec) + ", " + std::to_string(ts.tv_nsec) + "}";
}
std::string str(const timeval& tv) {
  return "{" + std::to_string(tv.tv_sec) + ", " + std::to_string(tv.tv_usec) + "}";
}

struct call {
  std::string what;
  std::function<long()> run;  // the wait; its result
};

struct call_state {
  std::atomic<bool> returned{false};
  std::atomic<long> result{0};
};

// What surrounds the calls, on the worker: `before` runs first (a sibling takes the mutex, ...),
// `release` ends the waits (empty: they cannot be ended, the fibers stay parked, detached, and their
// calls must capture nothing that dies with the test).
struct scene {
  std::function<void()> before = [] {};
  std::function<void()> release;
};

// Starts each call on its own fiber of one worker; returns their states once `done(states)` holds or
// `patience` has passed (checked by the starting fiber, which sleeps meanwhile), then releases them.
template <class Check>
void run_calls(const std::vector<call>& calls, const scene& s, std::chrono::milliseconds patience, Check&& check) {
  std::vector<std::shared_ptr<call_state>> states;
  for (std::size_t i = 0; i < calls.size(); ++i) states.push_back(std::make_shared<call_state>());
  auto all_back = [&] {
    for (auto& st : states)
      if (!st->returned) return false;
    return true;
  };
  one_worker().run([&] {
    s.before();
    std::vector<fiber::join_handle<void>> hs;
    for (std::size_t i = 0; i < calls.size(); ++i)
      hs.push_back(fiber::spawn([st = states[i], run = calls[i].run] {
        st->result = run();
        st->returned = true;
      }));
    const auto until = std::chrono::steady_clock::now() + patience;
    while (!all_back() && std::chrono::steady_clock::now() < until) fiber::this_fiber::sleep_for(1ms);
    check(states);
    if (!s.release) {
      for (auto& h : hs) h.detach();
      return;
    }
    s.release();
    for (auto& h : hs) h.join();
  });
}

// Every call is still waiting after 100 ms; released, each returns `expected`.
void expect_still_waiting(const std::vector<call>& calls, const scene& s, long expected) {
  std::vector<std::shared_ptr<call_state>> seen;
  run_calls(calls, s, 100ms, [&](const auto& states) {
    for (std::size_t i = 0; i < calls.size(); ++i)
      EXPECT_FALSE(states[i]->returned) << calls[i].what << " returned " << states[i]->result << " at once";
    seen = states;
  });
  if (!s.release) return;
  for (std::size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(seen[i]->result, expected) << calls[i].what;
}

// Every call returns `expected` at once (within a second; if not, the release ends it and the test fails).
void expect_at_once(const std::vector<call>& calls, const scene& s, long expected) {
  run_calls(calls, s, 1000ms, [&](const auto& states) {
    for (std::size_t i = 0; i < calls.size(); ++i) {
      EXPECT_TRUE(states[i]->returned) << calls[i].what << " still waits after 1 s";
      if (states[i]->returned) {
        EXPECT_EQ(states[i]->result, expected) << calls[i].what;
      }
    }
  });
}

// The same calls made on this thread (off any fiber: libc's) return `expected`.
void expect_libc_gives(const std::vector<call>& calls, long expected) {
  for (auto& c : calls) EXPECT_EQ(c.run(), expected) << c.what << " (libc, on a plain thread)";
}

struct pipe_pair {
  int fd[2] = {-1, -1};
  pipe_pair() { EXPECT_EQ(pipe(fd), 0); }
  ~pipe_pair() {
    close(fd[0]);
    close(fd[1]);
  }
};

}  // namespace

// ---- sleeps (cannot be ended early on a fiber: the sleeping fibers stay parked) ----

TEST(HookTimeLimits, RelativeSleepsWithHugeTimeoutsSleep) {
  std::vector<call> calls;
  for (const timespec ts : huge_timespecs) {
    calls.push_back({"nanosleep(" + str(ts) + ")", [ts] { return long{nanosleep(&ts, nullptr)}; }});
    for (clockid_t clk : {CLOCK_MONOTONIC, CLOCK_REALTIME})
      calls.push_back({"clock_nanosleep(" + std::to_string(clk) + ", 0, " + str(ts) + ")",
                       [ts, clk] { return long{clock_nanosleep(clk, 0, &ts, nullptr)}; }});
  }
  expect_still_waiting(calls, {}, 0);
}

TEST(HookTimeLimits, AbsoluteSleepsUntilHugeTimesSleep) {
  std::vector<call> calls;
  for (const timespec ts : huge_timespecs)
    for (clockid_t clk : {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME})
      calls.push_back({"clock_nanosleep(" + std::to_string(clk) + ", TIMER_ABSTIME, " + str(ts) + ")",
                       [ts, clk] { return long{clock_nanosleep(clk, TIMER_ABSTIME, &ts, nullptr)}; }});
  expect_still_waiting(calls, {}, 0);
}

// Linux rejects a negative tv_sec for clock_nanosleep, relative or absolute, with EINVAL (as for
// nanosleep): an absolute time before the epoch is not "already passed".
TEST(HookTimeLimits, SleepsBeforeTheEpochAreInvalid) {
  std::vector<call> calls;
  for (const timespec ts : negative_timespecs)
    for (clockid_t clk : {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME})
      for (int flags : {0, TIMER_ABSTIME})
        calls.push_back({"clock_nanosleep(" + std::to_string(clk) + ", " + std::to_string(flags) + ", " + str(ts) + ")",
                         [ts, clk, flags] { return long{clock_nanosleep(clk, flags, &ts, nullptr)}; }});
  expect_libc_gives(calls, EINVAL);
  expect_at_once(calls, {}, EINVAL);
}

// ---- poll/select family on a pipe: a write ends the waits ----

TEST(HookTimeLimits, PollAndSelectWithHugeTimeoutsWaitForReadiness) {
  pipe_pair p;
  const int rfd = p.fd[0];
  std::vector<call> calls;
  for (const timespec ts : huge_timespecs) {
    calls.push_back({"ppoll(" + str(ts) + ")", [rfd, ts] {
                       pollfd pfd{rfd, POLLIN, 0};
                       return long{ppoll(&pfd, 1, &ts, nullptr)};
                     }});
    calls.push_back({"pselect(" + str(ts) + ")", [rfd, ts] {
                       fd_set r;
                       FD_ZERO(&r);
                       FD_SET(rfd, &r);
                       return long{pselect(rfd + 1, &r, nullptr, nullptr, &ts, nullptr)};
                     }});
  }
  for (const timeval tv : huge_timevals)
    calls.push_back({"select(" + str(tv) + ")", [rfd, tv] {
                       fd_set r;
                       FD_ZERO(&r);
                       FD_SET(rfd, &r);
                       timeval t = tv;
                       return long{select(rfd + 1, &r, nullptr, nullptr, &t)};
                     }});
  expect_still_waiting(calls, {.release = [&] { EXPECT_EQ(write(p.fd[1], "x", 1), 1); }}, 1);
}

// ---- SO_RCVTIMEO, set on the fiber (recorded by the setsockopt hook) or before any fiber saw the
// socket (read back with getsockopt on first sight): a write ends the waits ----

TEST(HookTimeLimits, HugeReceiveTimeoutsWaitForData) {
  const timeval huge{18'446'744'073, 709'552};  // 2^64 ns + 384 ns; within the kernel's range
  int a[2], b[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
  ASSERT_EQ(setsockopt(b[0], SOL_SOCKET, SO_RCVTIMEO, &huge, sizeof huge), 0);  // off any fiber
  const int on_fiber = a[0], seen_later = b[0];
  std::vector<call> calls;
  calls.push_back({"read, SO_RCVTIMEO set on the fiber", [on_fiber, huge] {
                     if (setsockopt(on_fiber, SOL_SOCKET, SO_RCVTIMEO, &huge, sizeof huge) != 0) return -2L;
                     char c;
                     return long{read(on_fiber, &c, 1)};
                   }});
  calls.push_back({"read, SO_RCVTIMEO set before", [seen_later] {
                     char c;
                     return long{read(seen_later, &c, 1)};
                   }});
  expect_still_waiting(calls,
                       {.release =
                            [&] {
                              EXPECT_EQ(write(a[1], "x", 1), 1);
                              EXPECT_EQ(write(b[1], "x", 1), 1);
                            }},
                       1);
  for (int fd : {a[0], a[1], b[0], b[1]}) close(fd);
}

// recvmmsg checks its timeout only after each datagram (Linux): with a huge one, a call that has one
// datagram waits for the next instead of returning it at once.
TEST(HookTimeLimits, RecvmmsgWithAHugeTimeoutWaitsForEveryDatagram) {
  std::vector<int> fds;
  std::vector<call> calls;
  for (const timespec ts : huge_timespecs) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    ASSERT_EQ(send(sv[1], "a", 1, 0), 1);
    fds.insert(fds.end(), {sv[0], sv[1]});
    const int fd = sv[0];
    calls.push_back({"recvmmsg(" + str(ts) + ")", [fd, ts] {
                       char bufs[2][4];
                       iovec iov[2] = {{bufs[0], sizeof bufs[0]}, {bufs[1], sizeof bufs[1]}};
                       mmsghdr msgs[2] = {};
                       for (int i = 0; i < 2; ++i) {
                         msgs[i].msg_hdr.msg_iov = &iov[i];
                         msgs[i].msg_hdr.msg_iovlen = 1;
                       }
                       timespec t = ts;
                       return long{recvmmsg(fd, msgs, 2, 0, &t)};
                     }});
  }
  expect_still_waiting(calls,
                       {.release =
                            [&] {
                              for (std::size_t i = 1; i < fds.size(); i += 2) EXPECT_EQ(send(fds[i], "b", 1, 0), 1);
                            }},
                       2);
  for (int fd : fds) close(fd);
}

// ---- condition variables: a broadcast ends the waits ----

namespace {

// A mutex, a CLOCK_REALTIME and a CLOCK_MONOTONIC condition variable, and the predicate `go`.
class cond_waits {
 public:
  cond_waits() {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&monotonic_, &attr);
    pthread_condattr_destroy(&attr);
  }
  ~cond_waits() { pthread_cond_destroy(&monotonic_); }

  // pthread_cond_timedwait on either cond and pthread_cond_clockwait on either clock, until each time.
  std::vector<call> until(const std::vector<timespec>& times) {
    std::vector<call> calls;
    for (const timespec ts : times) {
      calls.push_back(wait("pthread_cond_timedwait(" + str(ts) + ")",
                           [this, ts] { return pthread_cond_timedwait(&realtime_, &m_, &ts); }));
      calls.push_back(wait("pthread_cond_timedwait(CLOCK_MONOTONIC cond, " + str(ts) + ")",
                           [this, ts] { return pthread_cond_timedwait(&monotonic_, &m_, &ts); }));
      for (clockid_t clk : {CLOCK_REALTIME, CLOCK_MONOTONIC})
        calls.push_back(wait("pthread_cond_clockwait(" + std::to_string(clk) + ", " + str(ts) + ")",
                             [this, ts, clk] { return pthread_cond_clockwait(&realtime_, &m_, clk, &ts); }));
    }
    return calls;
  }

  // Sets `go` and wakes every waiter.
  scene release_by_broadcast() {
    return {.release = [this] {
      pthread_mutex_lock(&m_);
      go_ = true;
      pthread_cond_broadcast(&realtime_);
      pthread_cond_broadcast(&monotonic_);
      pthread_mutex_unlock(&m_);
    }};
  }

 private:
  // A wait under the mutex, looping over spurious wake-ups until `go`; the first non-zero result.
  call wait(std::string what, std::function<int()> one_wait) {
    return {std::move(what), [this, one_wait = std::move(one_wait)] {
              pthread_mutex_lock(&m_);
              int rc = 0;
              while (!go_ && rc == 0) rc = one_wait();
              pthread_mutex_unlock(&m_);
              return long{rc};
            }};
  }

  pthread_mutex_t m_ = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t realtime_ = PTHREAD_COND_INITIALIZER, monotonic_;
  bool go_ = false;
};

}  // namespace

TEST(HookTimeLimits, ConditionWaitsUntilHugeTimesWaitForASignal) {
  SKIP_COND_UNDER_TSAN();
  cond_waits c;
  expect_still_waiting(c.until(huge_timespecs), c.release_by_broadcast(), 0);
}

TEST(HookTimeLimits, ConditionWaitsUntilBeforeTheEpochTimeOutAtOnce) {
  SKIP_COND_UNDER_TSAN();
  cond_waits c;
  const std::vector<call> calls = c.until(negative_timespecs);
  expect_libc_gives(calls, ETIMEDOUT);
  expect_at_once(calls, c.release_by_broadcast(), ETIMEDOUT);
}

// ---- timed mutex locks while a sibling fiber holds the mutex: its unlock ends the waits ----

namespace {

// A fiber of the worker the calls run on holds `m` from `before` until `release`.
class held_by_a_sibling {
 public:
  explicit held_by_a_sibling(pthread_mutex_t& m) : m_(m) {}
  scene as_scene() {
    return {.before =
                [this] {
                  holder_ = fiber::spawn([this] {
                    pthread_mutex_lock(&m_);
                    held_ = true;
                    while (!let_go_) fiber::this_fiber::sleep_for(1ms);
                    pthread_mutex_unlock(&m_);
                  });
                  while (!held_) fiber::this_fiber::yield();
                },
            .release =
                [this] {
                  let_go_ = true;
                  holder_.join();
                }};
  }

 private:
  pthread_mutex_t& m_;
  std::atomic<bool> held_{false}, let_go_{false};
  fiber::join_handle<void> holder_;
};

// Locks `m` with `lock` (0: locked, then unlocked again at once); the result.
call timed_lock(std::string what, pthread_mutex_t& m, std::function<int()> lock) {
  return {std::move(what), [&m, lock = std::move(lock)] {
            const int rc = lock();
            if (rc == 0) pthread_mutex_unlock(&m);
            return long{rc};
          }};
}

// pthread_mutex_timedlock (and pthread_mutex_clocklock on either clock) of `m` until each time.
std::vector<call> timed_locks(pthread_mutex_t& m, const std::vector<timespec>& times, bool with_clocklock) {
  std::vector<call> calls;
  for (const timespec ts : times) {
    calls.push_back(timed_lock("pthread_mutex_timedlock(" + str(ts) + ")", m,
                               [&m, ts] { return pthread_mutex_timedlock(&m, &ts); }));
    if (!with_clocklock) continue;
    for (clockid_t clk : {CLOCK_REALTIME, CLOCK_MONOTONIC})
      calls.push_back(timed_lock("pthread_mutex_clocklock(" + std::to_string(clk) + ", " + str(ts) + ")", m,
                                 [&m, ts, clk] { return pthread_mutex_clocklock(&m, clk, &ts); }));
  }
  return calls;
}

#ifdef WEFT_TSAN
// gcc 12's TSan does not intercept pthread_mutex_clocklock: it reports the unlock after a successful one.
constexpr bool clocklock_then_unlock_ok = false;
#else
constexpr bool clocklock_then_unlock_ok = true;
#endif

}  // namespace

TEST(HookTimeLimits, MutexLocksUntilHugeTimesWaitForTheUnlock) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  held_by_a_sibling h(m);
  expect_still_waiting(timed_locks(m, huge_timespecs, clocklock_then_unlock_ok), h.as_scene(), 0);
}

TEST(HookTimeLimits, MutexLocksUntilBeforeTheEpochTimeOutAtOnce) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  const std::vector<call> calls = timed_locks(m, negative_timespecs, true);
  {  // libc's answers, while a plain thread holds the mutex
    std::atomic<bool> held{false}, let_go{false};
    std::thread holder([&] {
      pthread_mutex_lock(&m);
      held = true;
      while (!let_go) std::this_thread::sleep_for(1ms);
      pthread_mutex_unlock(&m);
    });
    while (!held) std::this_thread::sleep_for(1ms);
    expect_libc_gives(calls, ETIMEDOUT);
    let_go = true;
    holder.join();
  }
  held_by_a_sibling h(m);
  expect_at_once(calls, h.as_scene(), ETIMEDOUT);
}
