// watchdog.hpp — names fibers that hold their worker too long (docs/design.md, Tools).
//
// A fiber that blocks its worker (a std::mutex, file I/O, an unhooked blocking call, a long
// computation) stalls every fiber queued behind it. With the watchdog on (runtime_options::
// watchdog_ms, or the environment variable WEFT_WATCHDOG_MS), a thread samples each worker's
// switch counter and running fiber every threshold/2; when the same fiber has been on the CPU with
// no switch for longer than the threshold it prints, once per episode:
//   weft watchdog: fiber 'name' (id N) has held worker 1 for 250 ms without yielding
// It is a debugging aid: it reads worker state without locks and only reports.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace fiber::detail {

class runtime_core;

class watchdog {
 public:
  watchdog(runtime_core& rt, std::chrono::milliseconds threshold);
  ~watchdog();
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

 private:
  void run();
  runtime_core& rt_;
  const std::chrono::milliseconds threshold_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace fiber::detail
