// stack_memory.hpp — the memory fiber stacks are made of: address space reserved in large arenas,
// committed by the kernel page by page as it is touched, guard pages, pages handed back.
// stack_pool.cpp builds slots, caches and recycling on top; nothing else maps stack memory.
#pragma once

#include <cstddef>

namespace fiber::detail {

// The page size the OS reports (4 KiB on x86-64 Linux, 16 KiB on arm64 macOS): slots, guards and
// memory figures are multiples of it. Never assume 4096.
std::size_t page_size() noexcept;

// Reserves `bytes` of read/write address space that costs nothing until touched. Throws
// std::system_error (ENOMEM) when the address space or the kernel refuses.
char* reserve_stack_memory(std::size_t bytes);

// Makes the page at `page` a guard: a fault there is a stack overflow. Uses a guard region where
// the kernel has them (Linux >= 6.13: no extra VMA, so a million guarded stacks stay under
// vm.max_map_count), else mprotect(PROT_NONE) while a budget of a quarter of the map-count limit
// lasts (each one splits a mapping). Returns false when the page could not be guarded.
bool install_stack_guard(char* page) noexcept;
bool stack_guard_regions_supported() noexcept;

// Hands the pages of [addr, addr + bytes) back to the OS, keeping the reservation (and guard
// regions): they read as zero when touched again.
void discard_stack_memory(char* addr, std::size_t bytes) noexcept;

// Commits the page at each of `pages[0 .. count)` (page-aligned, inside reserved stack memory) now,
// writable, in as few system calls as the OS allows: on Linux one process_madvise(MADV_POPULATE_WRITE)
// per batch (>= 6.14; else one madvise per page, >= 5.14), cheaper than taking the pages' first-touch
// faults one by one. Best effort: a page left out is committed by its first touch, as before.
// Returns how many pages it committed (from the first; 0 where the OS has no such call).
std::size_t commit_pages(char* const* pages, std::size_t count) noexcept;

// Bytes of [addr, addr + bytes) currently resident (committed), for stack high-water marks.
std::size_t resident_bytes(const char* addr, std::size_t bytes) noexcept;

}  // namespace fiber::detail
