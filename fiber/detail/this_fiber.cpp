// this_fiber.cpp — yield, sleep, identity and fiber-local slots for the calling fiber or thread.
#include <fiber/fiber_local.hpp>
#include <fiber/this_fiber.hpp>
#include <fiber/thread.hpp>

#include <fiber/detail/fiber_control.hpp>
#include <fiber/detail/worker.hpp>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

namespace fiber {

namespace detail {

namespace {
// OS threads get ids from the top of the range so they never collide with fiber ids.
std::atomic<std::uint64_t> next_thread_id{~std::uint64_t{0} >> 1};
std::atomic<std::size_t> next_local_key{0};

struct thread_locals {
  std::vector<local_slot> slots;
  ~thread_locals() {
    while (!slots.empty()) {
      auto taken = std::move(slots);
      slots.clear();
      for (auto& s : taken)
        if (s.value && s.destroy) s.destroy(s.value);
    }
  }
};
thread_local thread_locals tls_locals;
}  // namespace

void sleep_until_steady(clock::time_point deadline) {
  if (!in_fiber()) {
    std::this_thread::sleep_until(deadline);
    return;
  }
  // Nobody else holds the token: only the timer can wake us.
  while (clock::now() < deadline) park_until(prepare_park(), deadline);
}

std::size_t allocate_local_key() noexcept { return next_local_key.fetch_add(1, std::memory_order_relaxed); }

local_slot& local_slot_for(std::size_t key) {
  fiber_control* f = current_fiber();
  std::vector<local_slot>& slots = f ? f->locals : tls_locals.slots;
  if (slots.size() <= key) slots.resize(key + 1);
  return slots[key];
}

void terminate_with_uncaught(std::exception_ptr e) noexcept { terminate_reporting(current_name_for_diagnostics(), e); }

}  // namespace detail

namespace this_fiber {

void yield() noexcept {
  detail::worker* w = detail::worker::current();
  if (w && w->running()) {
    w->yield_current();
  } else {
    std::this_thread::yield();
  }
}

fiber_id get_id() noexcept {
  if (detail::fiber_control* f = detail::current_fiber()) return fiber_id(f->id);
  thread_local const std::uint64_t id = detail::next_thread_id.fetch_sub(1, std::memory_order_relaxed);
  return fiber_id(id);
}

}  // namespace this_fiber

}  // namespace fiber
