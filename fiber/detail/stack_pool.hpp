// stack_pool.hpp — fiber stacks: reserved in large arenas, committed by the kernel page by page as
// they are touched, guarded, and recycled.
//
// Design: a naive mmap + mprotect guard per stack costs two VMAs, and Linux's
// default vm.max_map_count (65530) then stops near 32k fibers. weft carves stacks out of arenas of
// many slots (adjacent same-protection mappings are one VMA) and guards each slot's lowest page with
// a *guard region* (madvise(MADV_GUARD_INSTALL), Linux >= 6.13), which lives in the page tables and
// costs no VMA at all. On older kernels it falls back to mprotect guard pages within a budget of
// a quarter of vm.max_map_count; stacks beyond the budget are unguarded (stated in README). The
// memory calls themselves live in the platform layer (os/stack_memory.hpp).
//
// Slot layout, low to high: [guard page][usable stack ... grows down][control block][slot header]
//
// Cold start: a worker cache that finds nothing warm takes a batch of cold slots and commits each
// one's top page in one system call (os/stack_memory.hpp: commit_pages), which costs less than the
// first-touch fault each new fiber would otherwise take there.
//
// Recycling: a freed stack keeps its touched pages while it sits in a bounded per-worker cache
// (reuse costs no page faults); beyond that bound half the cache moves to the shared pool, which
// keeps up to 4096 stacks warm for any worker (stacks freed on one worker are often needed on
// another) and beyond that returns pages with madvise(MADV_DONTNEED), keeping the reservation.
#pragma once

#include <fiber/detail/os/stack_memory.hpp>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace fiber::detail {

class stack_pool;

// Written at the very top of each slot while it is in use.
struct stack_slot {
  char* base;  // lowest address of the slot (the guard page)
  stack_pool* pool;
  bool guarded;
};

class stack_pool {
 public:
  explicit stack_pool(std::size_t slot_size);
  std::size_t slot_size() const noexcept { return slot_size_; }

  // Returns a slot, its header written at its top. Throws std::system_error(ENOMEM) when the
  // address space or the kernel refuses.
  stack_slot* acquire();
  // Returns slots from a worker cache; `warm` says their pages are still committed.
  void give_back(std::vector<std::uintptr_t>& entries, bool warm);
  void release(stack_slot* s);  // single slot from outside any worker cache
  // Moves up to `max` warm entries to `out` (a worker cache refilling itself).
  void take_warm_batch(std::vector<std::uintptr_t>& out, std::size_t max);
  // When none is warm: moves up to `max` cold entries to `out` (carving an arena if needed) and
  // commits the top page of each — the page a new fiber touches first — in one batch, outside the
  // lock. They are warm from then on.
  void take_cold_batch(std::vector<std::uintptr_t>& out, std::size_t max);

  static stack_pool& for_size(std::size_t slot_size);  // one shared pool per slot size
  // Around fork() (fork_support.hpp): every pool's lock, so no pool is copied mid-update.
  static void lock_all() noexcept;
  static void unlock_all() noexcept;
  static bool guard_regions_supported() noexcept;

  std::uintptr_t take_entry();  // a free entry (base | guarded bit), carving a new arena if needed
  stack_slot* slot_from_entry(std::uintptr_t e) noexcept;
  static std::uintptr_t entry_of(const stack_slot* s) noexcept {
    return reinterpret_cast<std::uintptr_t>(s->base) | (s->guarded ? 1u : 0u);
  }
  void return_pages(std::vector<std::uintptr_t>& entries) noexcept;

 private:
  void carve_arena();  // requires mu_

  const std::size_t slot_size_;
  std::mutex mu_;
  std::vector<std::uintptr_t> warm_;  // pages still committed (bounded)
  std::vector<std::uintptr_t> cold_;  // pages returned to the OS
};

// A worker's private cache of free stacks of the runtime's default size (no lock).
class stack_cache {
 public:
  static constexpr std::size_t capacity = 256;
  explicit stack_cache(stack_pool& pool) : pool_(pool) {}
  ~stack_cache();
  stack_slot* acquire();
  void release(stack_slot* s);  // s must come from pool()
  stack_pool& pool() const noexcept { return pool_; }

 private:
  stack_pool& pool_;
  std::vector<std::uintptr_t> free_;
};

// Guard-page lookup for the overflow handler: is `addr` inside the guard page of a slot whose
// usable part contains `sp_hint`'s fiber? (Async-signal-safe arithmetic only.)
inline bool in_guard_page(const stack_slot* s, const void* addr) noexcept {
  auto a = reinterpret_cast<std::uintptr_t>(addr);
  auto b = reinterpret_cast<std::uintptr_t>(s->base);
  return a >= b && a < b + page_size();
}

}  // namespace fiber::detail
