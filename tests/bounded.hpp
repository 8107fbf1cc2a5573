// bounded.hpp — run a test body that, when the code under test is broken, would hang: the body runs
// on its own thread and the test process ends with a message (a failure ctest reports) if it has not
// finished within the limit. Each gtest case runs in its own process under ctest, so only the
// offending case fails.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace weft_test {

template <class F>
void run_bounded(std::chrono::seconds limit, const char* what, F&& body) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::thread t([&] {
    body();
    std::lock_guard lk(m);
    done = true;
    cv.notify_one();
  });
  std::unique_lock lk(m);
  if (!cv.wait_for(lk, limit, [&] { return done; })) {
    std::fprintf(stderr, "FAILED: %s did not finish within %lld s (hang)\n", what,
                 static_cast<long long>(limit.count()));
    std::fflush(stderr);
    std::_Exit(3);
  }
  lk.unlock();
  t.join();
}

}  // namespace weft_test
