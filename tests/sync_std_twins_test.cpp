// The std synchronization contract, checked against the fiber:: twins as the standard words it:
// - [thread.req.timing]: a wait_until on any clock returns timeout only once *that* clock has
//   reached the time given (checked with a clock that runs at half speed, and system_clock), and
//   extreme time points and durations neither overflow nor hang;
// - [futures]: shared_future<void>, the *_at_thread_exit functions, packaged_task's deduction
//   guides, uses_allocator<promise>, future_category;
// - [thread.condition.nonmember]: notify_all_at_thread_exit;
// - constexpr constructors of counting_semaphore, binary_semaphore, latch and barrier (constinit);
// - try_ operations in a loop make progress on one worker (a fiber polling must let others run).
#include <fiber/fiber.hpp>
#include <sync/sync.hpp>

#include <gtest/gtest.h>

#include "half_speed_clock.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>

#include "bounded.hpp"
#include "one_worker.hpp"

using namespace std::chrono_literals;

namespace {

using weft_test::half_speed_clock;

constexpr auto slow_wait = 30ms;  // on half_speed_clock: 60 ms of real time

// Runs `body` once on a fiber and once on a plain OS thread.
template <class F>
void on_fiber_and_thread(F body) {
  fiber::spawn(body).join();
  std::thread(body).join();
}

// ---------------------------------------------------------------- timed waits on other clocks

TEST(StdTimedWaits, ConditionVariableWaitUntilEndsOnlyWhenItsClockSaysSo) {
  on_fiber_and_thread([] {
    fiber::mutex m;
    fiber::condition_variable cv;
    std::unique_lock lk(m);
    const auto t = half_speed_clock::now() + slow_wait;
    EXPECT_EQ(cv.wait_until(lk, t), fiber::cv_status::timeout);
    EXPECT_GE(half_speed_clock::now(), t);
    EXPECT_TRUE(lk.owns_lock());
    const auto t2 = half_speed_clock::now() + slow_wait;
    EXPECT_FALSE(cv.wait_until(lk, t2, [] { return false; }));
    EXPECT_GE(half_speed_clock::now(), t2);

    fiber::condition_variable_any any;
    const auto t3 = half_speed_clock::now() + slow_wait;
    EXPECT_EQ(any.wait_until(lk, t3), fiber::cv_status::timeout);
    EXPECT_GE(half_speed_clock::now(), t3);
    std::stop_source never;
    const auto t4 = half_speed_clock::now() + slow_wait;
    EXPECT_FALSE(any.wait_until(lk, never.get_token(), t4, [] { return false; }));
    EXPECT_GE(half_speed_clock::now(), t4);

    const auto t5 = std::chrono::system_clock::now() + 20ms;
    EXPECT_EQ(cv.wait_until(lk, t5), fiber::cv_status::timeout);
    EXPECT_GE(std::chrono::system_clock::now(), t5);
  });
}

template <class Mutex, class TryUntil>
void check_lock_until_on_slow_clock(TryUntil try_until) {
  Mutex m;
  std::atomic<bool> held{false}, release{false};
  // The holder is a plain thread so that the waiter may be a fiber on any worker, or a thread.
  std::thread holder([&] {
    m.lock();
    held = true;
    while (!release) std::this_thread::sleep_for(1ms);
    m.unlock();
  });
  while (!held) std::this_thread::sleep_for(1ms);
  on_fiber_and_thread([&] {
    const auto t = half_speed_clock::now() + slow_wait;
    EXPECT_FALSE(try_until(m, t));
    EXPECT_GE(half_speed_clock::now(), t);
  });
  release = true;
  holder.join();
}

TEST(StdTimedWaits, TimedMutexesFailOnlyWhenTheirClockSaysSo) {
  check_lock_until_on_slow_clock<fiber::timed_mutex>([](auto& m, auto t) { return m.try_lock_until(t); });
  check_lock_until_on_slow_clock<fiber::recursive_timed_mutex>([](auto& m, auto t) { return m.try_lock_until(t); });
  check_lock_until_on_slow_clock<fiber::shared_timed_mutex>([](auto& m, auto t) { return m.try_lock_until(t); });
  check_lock_until_on_slow_clock<fiber::shared_timed_mutex>([](auto& m, auto t) { return m.try_lock_shared_until(t); });
}

TEST(StdTimedWaits, FutureSemaphoreWaitGroupChannelWaitForTheirClock) {
  on_fiber_and_thread([] {
    fiber::promise<int> p;
    auto f = p.get_future();
    auto t = half_speed_clock::now() + slow_wait;
    EXPECT_EQ(f.wait_until(t), fiber::future_status::timeout);
    EXPECT_GE(half_speed_clock::now(), t);
    auto sf = f.share();
    t = half_speed_clock::now() + slow_wait;
    EXPECT_EQ(sf.wait_until(t), fiber::future_status::timeout);
    EXPECT_GE(half_speed_clock::now(), t);

    fiber::counting_semaphore<4> sem(0);
    t = half_speed_clock::now() + slow_wait;
    EXPECT_FALSE(sem.try_acquire_until(t));
    EXPECT_GE(half_speed_clock::now(), t);

    fiber::wait_group wg;
    wg.add(1);
    t = half_speed_clock::now() + slow_wait;
    EXPECT_FALSE(wg.wait_until(t));
    EXPECT_GE(half_speed_clock::now(), t);
    wg.done();

    fiber::channel<int> ch(0);
    t = half_speed_clock::now() + slow_wait;
    EXPECT_FALSE(ch.recv_until(t).has_value());
    EXPECT_GE(half_speed_clock::now(), t);
    t = half_speed_clock::now() + slow_wait;
    EXPECT_EQ(ch.send_until(1, t), fiber::channel_status::timeout);
    EXPECT_GE(half_speed_clock::now(), t);
  });
}

// ---------------------------------------------------------------- extremes

TEST(StdTimedWaits, EarliestTimePointIsAnImmediateTimeout) {
  weft_test::run_bounded(30s, "waits until system_clock::time_point::min()", [] {
    on_fiber_and_thread([] {
      const auto min = std::chrono::system_clock::time_point::min();
      fiber::promise<void> p;
      auto f = p.get_future();
      EXPECT_EQ(f.wait_until(min), fiber::future_status::timeout);
      fiber::mutex m;
      fiber::condition_variable cv;
      std::unique_lock lk(m);
      EXPECT_EQ(cv.wait_until(lk, min), fiber::cv_status::timeout);
      fiber::condition_variable_any any;
      EXPECT_EQ(any.wait_until(lk, min), fiber::cv_status::timeout);
      lk.unlock();

      fiber::timed_mutex held;
      held.lock();
      std::thread([&] {  // another owner, so that try_lock_until has to wait
        EXPECT_FALSE(held.try_lock_until(min));
        fiber::recursive_timed_mutex r;
        EXPECT_TRUE(r.try_lock_until(min));  // free: the lock is taken, time is not consulted
        r.unlock();
      })
          .join();
      held.unlock();
      fiber::counting_semaphore<1> sem(0);
      EXPECT_FALSE(sem.try_acquire_until(min));
      EXPECT_FALSE(sem.try_acquire_for(std::chrono::nanoseconds::min()));
      EXPECT_FALSE(sem.try_acquire_for(std::chrono::duration<double>(-1e300)));
      fiber::shared_timed_mutex sm;
      sm.lock();
      std::thread([&] {
        EXPECT_FALSE(sm.try_lock_until(min));
        EXPECT_FALSE(sm.try_lock_shared_until(min));
        EXPECT_FALSE(sm.try_lock_for(std::chrono::hours::min()));
      }).join();
      sm.unlock();
      const auto coarse_min = std::chrono::time_point<std::chrono::system_clock, std::chrono::hours>::min();
      EXPECT_EQ(f.wait_until(coarse_min), fiber::future_status::timeout);
    });
  });
}

TEST(StdTimedWaits, LatestTimePointAndLongestDurationWaitForTheEvent) {
  // hours::max() and time_point::max() overflow a naive now() + d: such a wait must not return at
  // once, but wait for the notify that comes 30 ms later.
  weft_test::run_bounded(30s, "waits until time_point::max()", [] {
    on_fiber_and_thread([] {
      const auto far = std::chrono::time_point<std::chrono::system_clock, std::chrono::hours>::max();
      fiber::promise<int> p;
      auto f = p.get_future();
      fiber::spawn([&] {
        fiber::this_fiber::sleep_for(30ms);
        p.set_value(1);
      }).detach();
      const auto start = std::chrono::steady_clock::now();
      EXPECT_EQ(f.wait_until(far), fiber::future_status::ready);
      EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);

      fiber::counting_semaphore<1> sem(0);
      fiber::spawn([&] {
        fiber::this_fiber::sleep_for(30ms);
        sem.release();
      }).detach();
      EXPECT_TRUE(sem.try_acquire_for(std::chrono::minutes::max()));

      fiber::mutex m;
      fiber::condition_variable cv;
      bool ready = false;
      fiber::spawn([&] {
        fiber::this_fiber::sleep_for(30ms);
        std::lock_guard g(m);
        ready = true;
        cv.notify_all();
      }).detach();
      std::unique_lock lk(m);
      EXPECT_TRUE(cv.wait_for(lk, std::chrono::duration<double>(1e300), [&] { return ready; }));
      EXPECT_TRUE(cv.wait_until(lk, std::chrono::steady_clock::time_point::max(), [&] { return ready; }));
    });
  });
}

// ---------------------------------------------------------------- futures

TEST(StdFutures, SharedFutureOfVoid) {
  fiber::promise<void> p;
  fiber::shared_future<void> a = p.get_future().share();
  fiber::shared_future<void> b = a;  // copyable
  static_assert(std::is_same_v<decltype(a.get()), void>);
  std::atomic<int> done{0};
  auto w1 = fiber::spawn([&] {
    a.get();
    ++done;
  });
  auto w2 = fiber::spawn([&] {
    b.wait();
    ++done;
  });
  EXPECT_EQ(a.wait_for(0s), fiber::future_status::timeout);
  p.set_value();
  w1.join();
  w2.join();
  EXPECT_EQ(done.load(), 2);
  EXPECT_TRUE(a.valid());
  a.get();  // shared_future::get may be called again
  EXPECT_EQ(b.wait_until(std::chrono::system_clock::now()), fiber::future_status::ready);

  fiber::promise<void> q;
  fiber::shared_future<void> c(q.get_future());
  q.set_exception(std::make_exception_ptr(std::runtime_error("x")));
  EXPECT_THROW(c.get(), std::runtime_error);
  EXPECT_THROW(c.get(), std::runtime_error);

  // get() returns const R& for values and R& for references (both refer to the shared state).
  fiber::promise<int> pi;
  fiber::shared_future<int> si = pi.get_future();
  pi.set_value(4);
  static_assert(std::is_same_v<decltype(si.get()), const int&>);
  EXPECT_EQ(&si.get(), &si.get());
  int x = 0;
  fiber::promise<int&> pr;
  fiber::shared_future<int&> sr = pr.get_future();
  pr.set_value(x);
  static_assert(std::is_same_v<decltype(sr.get()), int&>);
  EXPECT_EQ(&sr.get(), &x);
}

TEST(StdFutures, SetValueAtThreadExitBecomesReadyWhenTheFiberEnds) {
  fiber::promise<int> p;
  auto f = p.get_future();
  fiber::latch set(1), may_exit(1);
  auto h = fiber::spawn([&] {
    p.set_value_at_thread_exit(42);
    // Satisfied already, not ready yet.
    try {
      p.set_value(1);
      ADD_FAILURE() << "set_value after set_value_at_thread_exit did not throw";
    } catch (const fiber::future_error& e) {
      EXPECT_EQ(e.code(), fiber::future_errc::promise_already_satisfied);
    }
    set.count_down();
    may_exit.wait();
  });
  set.wait();
  EXPECT_EQ(f.wait_for(20ms), fiber::future_status::timeout);
  may_exit.count_down();
  EXPECT_EQ(f.get(), 42);
  h.join();
}

TEST(StdFutures, AtThreadExitFromAPlainThreadAndAfterTheFiberLocals) {
  // From a plain thread: ready when the thread exits.
  fiber::promise<std::string> p;
  auto f = p.get_future();
  std::thread([&] { p.set_value_at_thread_exit("thread"); }).join();
  EXPECT_EQ(f.wait_for(0s), fiber::future_status::ready);
  EXPECT_EQ(f.get(), "thread");

  // [futures.promise]: ready "after all objects of thread storage duration ... have been destroyed":
  // the fiber twin of thread_local is fiber_local.
  struct records_destruction {
    std::atomic<bool>* flag = nullptr;
    ~records_destruction() {
      if (flag) *flag = true;
    }
  };
  static fiber::fiber_local<records_destruction> local;
  std::atomic<bool> local_destroyed{false};
  fiber::promise<bool> q;
  auto g = q.get_future();
  fiber::spawn([&] {
    local->flag = &local_destroyed;
    q.set_value_at_thread_exit(true);
  }).detach();
  EXPECT_TRUE(g.get());
  EXPECT_TRUE(local_destroyed.load());

  // The promise may be destroyed first: no broken_promise, the value still arrives.
  fiber::future<int> h;
  fiber::spawn([&] {
    fiber::promise<int> local_promise;
    h = local_promise.get_future();
    local_promise.set_value_at_thread_exit(9);
  }).join();
  EXPECT_EQ(h.get(), 9);
}

TEST(StdFutures, SetExceptionAtThreadExitAndMakeReadyAtThreadExit) {
  fiber::promise<void> p;
  auto f = p.get_future();
  fiber::latch set(1), may_exit(1);
  auto h = fiber::spawn([&] {
    p.set_exception_at_thread_exit(std::make_exception_ptr(std::logic_error("late")));
    set.count_down();
    may_exit.wait();
  });
  set.wait();
  EXPECT_EQ(f.wait_for(10ms), fiber::future_status::timeout);
  may_exit.count_down();
  EXPECT_THROW(f.get(), std::logic_error);
  h.join();

  fiber::packaged_task<int(int)> task([](int v) { return v * 3; });
  auto r = task.get_future();
  fiber::latch ran(1), go(1);
  auto h2 = fiber::spawn([&] {
    task.make_ready_at_thread_exit(5);
    ran.count_down();
    go.wait();
  });
  ran.wait();
  EXPECT_EQ(r.wait_for(10ms), fiber::future_status::timeout);
  try {
    task(1);  // the task has run: a second call is promise_already_satisfied
    ADD_FAILURE() << "second call of a packaged_task did not throw";
  } catch (const fiber::future_error& e) {
    EXPECT_EQ(e.code(), fiber::future_errc::promise_already_satisfied);
  }
  go.count_down();
  EXPECT_EQ(r.get(), 15);
  h2.join();
}

TEST(StdFutures, NotifyAllAtThreadExitHoldsTheLockUntilExit) {
  fiber::mutex m;
  fiber::condition_variable cv;
  bool ready = false;
  fiber::latch handed(1), may_exit(1);
  auto h = fiber::spawn([&] {
    std::unique_lock lk(m);
    ready = true;
    fiber::notify_all_at_thread_exit(cv, std::move(lk));
    handed.count_down();
    may_exit.wait();
  });
  handed.wait();
  EXPECT_FALSE(m.try_lock());  // the lock still belongs to the exiting fiber
  may_exit.count_down();
  std::unique_lock lk(m);
  cv.wait(lk, [&] { return ready; });
  EXPECT_TRUE(ready);
  lk.unlock();
  h.join();
}

int triple(int v) {
  return 3 * v;
}

TEST(StdFutures, DeductionGuidesUsesAllocatorAndCategory) {
  fiber::packaged_task from_function(&triple);
  static_assert(std::is_same_v<decltype(from_function), fiber::packaged_task<int(int)>>);
  fiber::packaged_task from_lambda([](double d, int) -> long { return static_cast<long>(d); });
  static_assert(std::is_same_v<decltype(from_lambda), fiber::packaged_task<long(double, int)>>);
  auto fut = from_function.get_future();
  from_function(4);
  EXPECT_EQ(fut.get(), 12);

  static_assert(std::uses_allocator_v<fiber::promise<int>, std::allocator<int>>);
  static_assert(std::uses_allocator_v<fiber::promise<void>, std::allocator<char>>);
  fiber::promise<int> with_alloc(std::allocator_arg, std::allocator<int>{});
  auto g = with_alloc.get_future();
  with_alloc.set_value(3);
  EXPECT_EQ(g.get(), 3);

  EXPECT_EQ(&fiber::future_category(), &std::future_category());
  EXPECT_EQ(std::make_error_code(fiber::future_errc::broken_promise).category(), fiber::future_category());
}

TEST(StdFutures, AsyncAndPackagedTaskTakeReferencesThroughStdRef) {
  int x = 0;
  fiber::async([](int& r) { r = 7; }, std::ref(x)).get();
  EXPECT_EQ(x, 7);
  fiber::async(
      fiber::launch::deferred, [](int& r) { r = 8; }, std::ref(x))
      .get();
  EXPECT_EQ(x, 8);
  fiber::packaged_task<void(int&)> task([](int& r) { r = 9; });
  task(x);
  EXPECT_EQ(x, 9);
  fiber::packaged_task<int(std::reference_wrapper<int>)> wrapped(
      [](std::reference_wrapper<int> r) { return ++r.get(); });
  auto f = wrapped.get_future();
  wrapped(std::ref(x));
  EXPECT_EQ(f.get(), 10);
}

struct move_counter {
  static inline std::atomic<int> moves{0}, copies{0};
  move_counter() = default;
  move_counter(const move_counter&) { ++copies; }
  move_counter(move_counter&&) noexcept { ++moves; }
  int operator()() const { return 1; }
};

TEST(StdFutures, AsyncMovesTheCallableAsOftenAsStdAsync) {
  move_counter::moves = move_counter::copies = 0;
  EXPECT_EQ(std::async(std::launch::async, move_counter{}).get(), 1);
  const int std_moves = move_counter::moves;
  move_counter::moves = move_counter::copies = 0;
  EXPECT_EQ(fiber::async(fiber::launch::async, move_counter{}).get(), 1);
  EXPECT_LE(move_counter::moves.load(), std_moves);
  EXPECT_LE(move_counter::moves.load(), 1);
  EXPECT_EQ(move_counter::copies.load(), 0);
  move_counter::moves = 0;
  EXPECT_EQ(fiber::async(fiber::launch::deferred, move_counter{}).get(), 1);
  EXPECT_LE(move_counter::moves.load(), 1);
}

// A callable whose first copy throws what a failed thread start throws.
struct fails_to_start {
  fails_to_start() = default;
  fails_to_start(const fails_to_start& other) {
    if (!other.copied) {
      other.copied = true;
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
    }
  }
  int operator()() const { return 5; }
  mutable bool copied = false;
};

TEST(StdFutures, AsyncThatCannotStartRunsDeferredUnderTheDefaultPolicy) {
  // [futures.async]: launch::async | launch::deferred may run the task deferred when it cannot start.
  fails_to_start task;
  auto f = fiber::async(task);
  EXPECT_EQ(f.wait_for(0s), fiber::future_status::deferred);
  EXPECT_EQ(f.get(), 5);
  fails_to_start again;
  EXPECT_THROW((void)fiber::async(fiber::launch::async, again), std::system_error);
}

TEST(StdFutures, PromiseIsUsesAllocatorMoveConstructible) {
  // std::tuple with an allocator constructs each promise as promise(allocator_arg, a, promise&&).
  fiber::promise<int> pi;
  fiber::promise<void> pv;
  auto fi = pi.get_future();
  std::tuple<fiber::promise<int>, fiber::promise<void>> t(std::allocator_arg, std::allocator<char>{}, std::move(pi),
                                                          std::move(pv));
  std::get<0>(t).set_value(8);
  EXPECT_EQ(fi.get(), 8);
  EXPECT_THROW(pi.set_value(1), fiber::future_error);  // moved from: no state
}

// ---------------------------------------------------------------- constexpr constructors

constinit fiber::latch constinit_latch(1);
constinit fiber::counting_semaphore<4> constinit_semaphore(2);
constinit fiber::binary_semaphore constinit_binary(0);
constinit fiber::barrier<> constinit_barrier(1);
constinit fiber::mutex constinit_mutex;
constinit fiber::shared_mutex constinit_shared_mutex;

TEST(StdConstexpr, ConstinitObjectsWork) {
  EXPECT_FALSE(constinit_latch.try_wait());
  constinit_latch.count_down();
  EXPECT_TRUE(constinit_latch.try_wait());
  EXPECT_TRUE(constinit_semaphore.try_acquire());
  EXPECT_TRUE(constinit_semaphore.try_acquire());
  EXPECT_FALSE(constinit_semaphore.try_acquire());
  constinit_semaphore.release(2);
  constinit_binary.release();
  EXPECT_TRUE(constinit_binary.try_acquire());
  constinit_barrier.arrive_and_wait();
  std::lock_guard g(constinit_mutex);
  std::shared_lock s(constinit_shared_mutex);
}

// ---------------------------------------------------------------- try loops on one worker

// Each poller spins on a try_ operation that only a sibling fiber *on the same worker* can satisfy.
// Threads progress because the kernel preempts them; a fiber must give its worker away itself.
template <class Setup>
void spin_until_released(const char* what, Setup setup) {
  weft_test::run_bounded(30s, what, [&] { weft_test::one_worker().run([&] { setup(); }); });
}

TEST(StdTryLoops, PollingLoopsMakeProgressOnOneWorker) {
  spin_until_released("while (!sem.try_acquire())", [] {
    fiber::counting_semaphore<1> sem(0);
    auto releaser = fiber::spawn([&] { sem.release(); });
    while (!sem.try_acquire()) {
    }
    releaser.join();
  });
  spin_until_released("while (!m.try_lock())", [] {
    fiber::mutex m;
    fiber::latch holding(1);
    auto holder = fiber::spawn([&] {
      std::lock_guard g(m);
      holding.count_down();
      fiber::this_fiber::sleep_for(2ms);
    });
    holding.wait();
    while (!m.try_lock()) {
    }
    m.unlock();
    holder.join();
  });
  spin_until_released("while (!latch.try_wait())", [] {
    fiber::latch l(1);
    auto counter = fiber::spawn([&] { l.count_down(); });
    while (!l.try_wait()) {
    }
    counter.join();
  });
  spin_until_released("while (f.wait_for(0s) != ready)", [] {
    fiber::promise<int> p;
    auto f = p.get_future();
    auto setter = fiber::spawn([&] { p.set_value(1); });
    while (f.wait_for(0s) != fiber::future_status::ready) {
    }
    EXPECT_EQ(f.get(), 1);
    setter.join();
  });
  spin_until_released("while (!sm.try_lock_shared())", [] {
    fiber::shared_mutex sm;
    fiber::latch holding(1);
    auto writer = fiber::spawn([&] {
      std::lock_guard g(sm);
      holding.count_down();
      fiber::this_fiber::sleep_for(2ms);
    });
    holding.wait();
    while (!sm.try_lock_shared()) {
    }
    sm.unlock_shared();
    writer.join();
  });
  spin_until_released("while (!sem.try_acquire_for(0s))", [] {
    fiber::counting_semaphore<1> sem(0);
    auto releaser = fiber::spawn([&] {
      fiber::this_fiber::sleep_for(1ms);
      sem.release();
    });
    while (!sem.try_acquire_for(0s)) {
    }
    releaser.join();
  });
}

}  // namespace
