// promise / future / shared_future / packaged_task / async: values, exceptions, std's errors,
// timed waits, fibers and OS threads on either side.
#include <sync/future.hpp>

#include <fiber/fiber.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {
template <class F>
fiber::future_errc error_of(F&& f) {
  try {
    f();
  } catch (const fiber::future_error& e) {
    return static_cast<fiber::future_errc>(e.code().value());
  }
  ADD_FAILURE() << "no future_error thrown";
  return {};
}
}  // namespace

TEST(Future, PromiseValueAcrossFiberAndThread) {
  fiber::promise<std::string> p;
  auto f = p.get_future();
  EXPECT_TRUE(f.valid());
  std::thread t([&] { p.set_value("hello"); });
  EXPECT_EQ(fiber::spawn([&] { return f.get(); }).join(), "hello");
  EXPECT_FALSE(f.valid());
  t.join();

  fiber::promise<int> q;
  auto g = q.get_future();
  fiber::spawn([&] {
    fiber::this_fiber::sleep_for(5ms);
    q.set_value(7);
  });
  EXPECT_EQ(g.get(), 7);  // an OS thread waiting on a fiber
}

TEST(Future, ExceptionsAndErrors) {
  fiber::promise<int> p;
  auto f = p.get_future();
  p.set_exception(std::make_exception_ptr(std::runtime_error("bad")));
  EXPECT_THROW(f.get(), std::runtime_error);

  fiber::promise<int> p2;
  EXPECT_EQ(error_of([&] { (void)p2.get_future(), (void)p2.get_future(); }),
            fiber::future_errc::future_already_retrieved);
  p2.set_value(1);
  EXPECT_EQ(error_of([&] { p2.set_value(2); }), fiber::future_errc::promise_already_satisfied);
  EXPECT_EQ(error_of([&] { p2.set_exception(std::make_exception_ptr(1)); }),
            fiber::future_errc::promise_already_satisfied);

  fiber::future<int> broken;
  {
    fiber::promise<int> p3;
    broken = p3.get_future();
  }
  EXPECT_EQ(error_of([&] { broken.get(); }), fiber::future_errc::broken_promise);

  fiber::promise<void> moved;
  fiber::promise<void> target(std::move(moved));
  EXPECT_EQ(error_of([&] { moved.set_value(); }), fiber::future_errc::no_state);
  fiber::future<void> empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_EQ(error_of([&] { empty.get(); }), fiber::future_errc::no_state);
  EXPECT_EQ(error_of([&] { empty.wait(); }), fiber::future_errc::no_state);
}

TEST(Future, TimedWaits) {
  fiber::promise<void> p;
  auto f = p.get_future();
  EXPECT_EQ(fiber::spawn([&] { return f.wait_for(10ms); }).join(), fiber::future_status::timeout);
  EXPECT_EQ(f.wait_until(std::chrono::system_clock::now() + 5ms), fiber::future_status::timeout);
  p.set_value();
  EXPECT_EQ(f.wait_for(0ms), fiber::future_status::ready);
  f.get();
}

TEST(Future, VoidAndReferenceResults) {
  int x = 5;
  fiber::promise<int&> pr;
  auto fr = pr.get_future();
  pr.set_value(x);
  int& r = fr.get();
  EXPECT_EQ(&r, &x);

  fiber::promise<void> pv;
  auto fv = pv.get_future();
  std::thread t([&] { pv.set_value(); });
  fv.get();
  t.join();
}

TEST(SharedFuture, ManyWaitersSeeTheSameValue) {
  fiber::promise<int> p;
  fiber::shared_future<int> sf = p.get_future().share();
  std::atomic<int> sum{0};
  std::vector<fiber::join_handle<void>> hs;
  for (int i = 0; i < 20; ++i) hs.push_back(fiber::spawn([sf, &sum] { sum += sf.get(); }));
  std::thread t([sf, &sum] { sum += sf.get(); });
  std::this_thread::sleep_for(5ms);
  p.set_value(3);
  for (auto& h : hs) h.join();
  t.join();
  EXPECT_EQ(sum.load(), 63);
  EXPECT_TRUE(sf.valid());
  EXPECT_EQ(sf.get(), 3);
}

TEST(PackagedTask, RunsOnceAndReportsErrors) {
  fiber::packaged_task<int(int, int)> task([](int a, int b) { return a + b; });
  auto f = task.get_future();
  fiber::spawn(std::ref(task), 2, 3).join();
  EXPECT_EQ(f.get(), 5);
  EXPECT_EQ(error_of([&] { task(1, 1); }), fiber::future_errc::promise_already_satisfied);
  task.reset();
  auto f2 = task.get_future();
  task(10, 20);
  EXPECT_EQ(f2.get(), 30);

  fiber::packaged_task<void()> thrower([] { throw std::logic_error("x"); });
  auto ft = thrower.get_future();
  thrower();
  EXPECT_THROW(ft.get(), std::logic_error);

  fiber::future<int> abandoned;
  {
    fiber::packaged_task<int()> never([] { return 1; });
    abandoned = never.get_future();
  }
  EXPECT_EQ(error_of([&] { abandoned.get(); }), fiber::future_errc::broken_promise);
  fiber::packaged_task<int()> none;
  EXPECT_FALSE(none.valid());
  EXPECT_EQ(error_of([&] { none(); }), fiber::future_errc::no_state);
}

TEST(Async, RunsOnAFiberAndPropagates) {
  auto f = fiber::async([](int x) { return x * 2; }, 21);
  EXPECT_EQ(f.get(), 42);
  auto on_fiber = fiber::async(fiber::launch::async, [] { return fiber::detail::in_fiber(); });
  EXPECT_TRUE(on_fiber.get());
  auto err = fiber::async([]() -> int { throw std::runtime_error("async boom"); });
  EXPECT_THROW(err.get(), std::runtime_error);
  auto moved = fiber::async([](std::unique_ptr<int> p) { return *p; }, std::make_unique<int>(9));
  EXPECT_EQ(moved.get(), 9);

  // Deferred: runs in the caller of get(), not before.
  std::atomic<bool> ran{false};
  auto d = fiber::async(fiber::launch::deferred, [&] {
    ran = true;
    return 1;
  });
  EXPECT_EQ(d.wait_for(1ms), fiber::future_status::deferred);
  EXPECT_FALSE(ran.load());
  EXPECT_EQ(d.get(), 1);
  EXPECT_TRUE(ran.load());

  // A discarded async() waits for its fiber, like std::async.
  std::atomic<bool> finished{false};
  (void)fiber::async([&] {
    fiber::this_fiber::sleep_for(10ms);
    finished = true;
  });
  EXPECT_TRUE(finished.load());
}

TEST(Async, ManyFromFibers) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  constexpr long n = 200;  // fiber creation costs milliseconds under sanitizers
#else
  constexpr long n = 2000;
#endif
  long total = fiber::run([] {
    std::vector<fiber::future<long>> fs;
    for (long i = 0; i < n; ++i) fs.push_back(fiber::async([i] { return i; }));
    long s = 0;
    for (auto& f : fs) s += f.get();
    return s;
  });
  EXPECT_EQ(total, (n - 1) * n / 2);
}
