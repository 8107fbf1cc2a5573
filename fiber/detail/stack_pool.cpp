#include <fiber/detail/stack_pool.hpp>

#include <fiber/detail/os/stack_memory.hpp>

#include <algorithm>
#include <map>
#include <system_error>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_VALGRIND 1
#endif

namespace fiber::detail {

namespace {

constexpr std::size_t slots_per_arena = 256;
constexpr std::size_t shared_warm_capacity = 4096;
constexpr std::size_t refill_batch = 32;
// Cold slots committed per refill: one system call for all, and at most this many committed pages
// per worker wait unused (a small runtime pays for them in RSS).
constexpr std::size_t cold_batch = 16;

}  // namespace

bool stack_pool::guard_regions_supported() noexcept {
  return stack_guard_regions_supported();
}

stack_pool::stack_pool(std::size_t slot_size) : slot_size_(slot_size) {}

namespace {
std::mutex& pools_mu() {
  static auto* mu = new std::mutex();  // never destroyed: fibers may outlive statics
  return *mu;
}
std::map<std::size_t, stack_pool*>& pools() {
  static auto* p = new std::map<std::size_t, stack_pool*>();
  return *p;
}
}  // namespace

stack_pool& stack_pool::for_size(std::size_t slot_size) {
  std::lock_guard lk(pools_mu());
  auto& p = pools()[slot_size];
  if (!p) p = new stack_pool(slot_size);
  return *p;
}

void stack_pool::lock_all() noexcept {
  pools_mu().lock();
  for (auto& [size, pool] : pools()) pool->mu_.lock();
}

void stack_pool::unlock_all() noexcept {
  for (auto& [size, pool] : pools()) pool->mu_.unlock();
  pools_mu().unlock();
}

void stack_pool::carve_arena() {
  const std::size_t pg = page_size();
  char* base = reserve_stack_memory(slot_size_ * slots_per_arena);
  // Push in reverse so that acquire() hands out ascending addresses.
  for (std::size_t i = slots_per_arena; i-- > 0;) {
    char* slot = base + i * slot_size_;
    const bool guarded = install_stack_guard(slot);
#ifdef WEFT_VALGRIND
    VALGRIND_STACK_REGISTER(slot + pg, slot + slot_size_);
#else
    (void)pg;
#endif
    cold_.push_back(reinterpret_cast<std::uintptr_t>(slot) | (guarded ? 1u : 0u));
  }
}

std::uintptr_t stack_pool::take_entry() {
  std::lock_guard lk(mu_);
  if (!warm_.empty()) {
    auto e = warm_.back();
    warm_.pop_back();
    return e;
  }
  if (cold_.empty()) carve_arena();
  auto e = cold_.back();
  cold_.pop_back();
  return e;
}

stack_slot* stack_pool::slot_from_entry(std::uintptr_t e) noexcept {
  char* base = reinterpret_cast<char*>(e & ~std::uintptr_t{1});
  auto* s = reinterpret_cast<stack_slot*>(base + slot_size_ - sizeof(stack_slot));
  s->base = base;
  s->pool = this;
  s->guarded = (e & 1u) != 0;
  return s;
}

stack_slot* stack_pool::acquire() {
  return slot_from_entry(take_entry());
}

void stack_pool::take_warm_batch(std::vector<std::uintptr_t>& out, std::size_t max) {
  std::lock_guard lk(mu_);
  const std::size_t n = std::min(max, warm_.size());
  out.insert(out.end(), warm_.end() - static_cast<long>(n), warm_.end());
  warm_.resize(warm_.size() - n);
}

void stack_pool::take_cold_batch(std::vector<std::uintptr_t>& out, std::size_t max) {
  const std::size_t first = out.size();
  {
    std::lock_guard lk(mu_);
    if (cold_.empty()) carve_arena();
    const std::size_t n = std::min(max, cold_.size());
    // The back of cold_ is the lowest address, and the cache pops from its back: keep the order, so
    // that it hands out ascending addresses.
    out.insert(out.end(), cold_.end() - static_cast<long>(n), cold_.end());
    cold_.resize(cold_.size() - n);
  }
#ifdef WEFT_VALGRIND
  if (RUNNING_ON_VALGRIND) return;  // valgrind does not know process_madvise: the pages fault in as before
#endif
  char* tops[cold_batch];
  std::size_t count = 0;
  for (std::size_t i = first; i < out.size(); ++i) {
    tops[count++] = reinterpret_cast<char*>(out[i] & ~std::uintptr_t{1}) + slot_size_ - page_size();
    if (count == cold_batch || i + 1 == out.size()) {
      commit_pages(tops, count);
      count = 0;
    }
  }
}

void stack_pool::return_pages(std::vector<std::uintptr_t>& entries) noexcept {
  // Coalesce neighbouring slots so that a mass exit costs few madvise calls. Guard regions survive
  // a discard, so a run may span the guards inside it; an mprotect'd guard (older kernels) is a
  // separate mapping some kernels refuse to discard, so then every slot is discarded alone, guard
  // excluded.
  std::sort(entries.begin(), entries.end());
  const bool span_guards = stack_guard_regions_supported();
  std::size_t i = 0;
  while (i < entries.size()) {
    char* start = reinterpret_cast<char*>(entries[i] & ~std::uintptr_t{1});
    char* end = start + slot_size_;
    std::size_t j = i + 1;
    while (span_guards && j < entries.size() && reinterpret_cast<char*>(entries[j] & ~std::uintptr_t{1}) == end) {
      end += slot_size_;
      ++j;
    }
    discard_stack_memory(start + page_size(), static_cast<std::size_t>(end - start) - page_size());
    i = j;
  }
}

void stack_pool::give_back(std::vector<std::uintptr_t>& entries, bool warm) {
  std::vector<std::uintptr_t> to_cool;
  {
    std::lock_guard lk(mu_);
    for (auto e : entries) {
      if (warm && warm_.size() < shared_warm_capacity) {
        warm_.push_back(e);
      } else if (warm) {
        to_cool.push_back(e);
      } else {
        cold_.push_back(e);
      }
    }
  }
  entries.clear();
  if (to_cool.empty()) return;
  return_pages(to_cool);
  std::lock_guard lk(mu_);
  cold_.insert(cold_.end(), to_cool.begin(), to_cool.end());
}

void stack_pool::release(stack_slot* s) {
  std::vector<std::uintptr_t> one{entry_of(s)};
  give_back(one, true);
}

stack_cache::~stack_cache() {
  if (!free_.empty()) pool_.give_back(free_, true);
}

stack_slot* stack_cache::acquire() {
  if (free_.empty()) pool_.take_warm_batch(free_, refill_batch);  // one lock for many stacks
  if (free_.empty()) pool_.take_cold_batch(free_, cold_batch);
  auto e = free_.back();
  free_.pop_back();
  return pool_.slot_from_entry(e);
}

void stack_cache::release(stack_slot* s) {
  free_.push_back(stack_pool::entry_of(s));
  if (free_.size() > capacity) {
    // Keep the most recently used half warm here; the rest goes to the shared pool.
    std::vector<std::uintptr_t> spill(free_.begin(), free_.begin() + static_cast<long>(capacity / 2));
    free_.erase(free_.begin(), free_.begin() + static_cast<long>(capacity / 2));
    pool_.give_back(spill, true);
  }
}

}  // namespace fiber::detail
