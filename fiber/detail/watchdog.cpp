#include <fiber/detail/watchdog.hpp>

#include <fiber/detail/os/cpu.hpp>
#include <fiber/detail/runtime_core.hpp>

#include <cstdio>
#include <vector>

namespace fiber::detail {

watchdog::watchdog(runtime_core& rt, std::chrono::milliseconds threshold)
    : rt_(rt), threshold_(threshold), thread_([this] { run(); }) {}

watchdog::~watchdog() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void watchdog::run() {
  name_current_thread("weft-watchdog");
  struct sample {
    std::uint32_t progress = 0;
    fiber_control* fiber = nullptr;
    std::chrono::steady_clock::time_point since;
    bool reported = false;
  };
  std::vector<sample> last(rt_.workers().size());
  const auto period = std::max(threshold_ / 2, std::chrono::milliseconds(1));
  std::unique_lock lk(mu_);
  while (!cv_.wait_for(lk, period, [this] { return stop_; })) {
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < last.size(); ++i) {
      worker& w = *rt_.workers()[i];
      const std::uint32_t progress = w.progress();
      fiber_control* f = w.on_cpu();
      sample& s = last[i];
      if (progress != s.progress || f != s.fiber || f == nullptr) {
        s = {progress, f, now, false};
        continue;
      }
      if (!s.reported && now - s.since >= threshold_) {
        s.reported = true;
        // The fiber has not switched since the last sample, so it is still alive on that worker.
        auto held = std::chrono::duration_cast<std::chrono::milliseconds>(now - s.since).count();
        std::fprintf(stderr, "weft watchdog: %s has held worker %zu for %lld ms without yielding\n",
                     f->describe().c_str(), i, static_cast<long long>(held));
      }
    }
  }
}

}  // namespace fiber::detail
