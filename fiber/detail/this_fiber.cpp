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

// What an OS thread (not a fiber) holds of the fiber-level per-task state: fiber_local values and
// at-exit actions, both run down when the thread exits (the actions after the values, as for fibers).
struct thread_locals {
  std::vector<local_slot> slots;
  exit_action* exit_actions = nullptr;
  ~thread_locals() {
    while (!slots.empty()) {
      auto taken = std::move(slots);
      slots.clear();
      for (auto& s : taken)
        if (s.value && s.destroy) s.destroy(s.value);
    }
    run_exit_actions(exit_actions);
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
  wait_scope ws(wait_kind::sleep, nullptr, 0, nullptr, deadline);
  while (clock::now() < deadline) park_until(prepare_park(), deadline);
}

std::size_t allocate_local_key() noexcept {
  return next_local_key.fetch_add(1, std::memory_order_relaxed);
}

local_slot& local_slot_for(std::size_t key) {
  fiber_control* f = current_fiber();
  std::vector<local_slot>& slots = f ? f->locals : tls_locals.slots;
  if (slots.size() <= key) slots.resize(key + 1);
  return slots[key];
}

void note_failed_try() noexcept {
  // Few enough that a polling loop hands over within a microsecond or so, many enough that
  // std::lock's lock/try_lock/back-off rounds rarely yield at all.
  constexpr unsigned failures_before_yield = 8;
  thread_local unsigned failures = 0;
  thread_local std::uint32_t seen_progress = 0;
  worker* w = worker::current();
  if (w && w->running()) {
    // The worker's switch counter moved: this fiber was switched out since its last failure.
    if (const std::uint32_t now = w->progress(); now != seen_progress) {
      seen_progress = now;
      failures = 0;
    }
    if (++failures < failures_before_yield) return;
    failures = 0;
    w->yield_current();
    seen_progress = w->progress();
  }
  // An OS thread is preempted by the kernel: its polling loop needs no help (and a sched_yield per
  // few failures would make a cheap poll cost a time slice).
}

void at_exit_of_current(exit_action* a) noexcept {
  exit_action*& list = current_fiber() ? current_fiber()->exit_actions : tls_locals.exit_actions;
  a->next = list;
  list = a;
}

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
