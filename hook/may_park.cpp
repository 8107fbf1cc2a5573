// may_park.cpp — see may_park.hpp.
#include <link.h>

#include <algorithm>
#include <cstdint>
#include <hook/fd_table.hpp>
#include <hook/may_park.hpp>

namespace {

// The executable segments of libweft_hook.so (set once, at load, before any fiber runs).
std::uintptr_t self_lo = 0, self_hi = 0;

int find_self(dl_phdr_info* info, std::size_t, void* data) {
  const auto probe = reinterpret_cast<std::uintptr_t>(data);
  std::uintptr_t lo = UINTPTR_MAX, hi = 0;
  bool mine = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    const std::uintptr_t a = info->dlpi_addr + ph.p_vaddr, b = a + ph.p_memsz;
    lo = std::min(lo, a);
    hi = std::max(hi, b);
    if (probe >= a && probe < b) mine = true;
  }
  if (!mine) return 0;
  self_lo = lo;
  self_hi = hi;
  return 1;
}

__attribute__((constructor)) void find_own_code() {
  dl_iterate_phdr(find_self, reinterpret_cast<void*>(&find_self));
}

}  // namespace

namespace weft::hook::detail {

bool called_by_weft(const void* return_address) noexcept {
  const auto a = reinterpret_cast<std::uintptr_t>(return_address);
  return a >= self_lo && a < self_hi;
}

bool may_park(const void* return_address) noexcept {
  return !reentered() && !called_by_weft(return_address);
}

}  // namespace weft::hook::detail
