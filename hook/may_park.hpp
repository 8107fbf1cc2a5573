// may_park.hpp — who is calling a pthread hook: a fiber allowed to park, or someone who gets glibc's
// behaviour.
//
// Owns: the address range of libweft_hook.so's own code (its executable segments, found once at load
// with dl_iterate_phdr). Invariants: a lock taken by weft's own code never parks — weft's locks are
// leaf locks, one of them (the stack pool's) taken on the way out of a context switch — and nothing
// parks while hook/fd_table's internal_scope is active on this thread. Under ASan/TSan their
// interceptors stand between weft's code and the hook and hide the caller; a contended stack-pool lock
// may then park inside worker::after_switch, which only finishes releasing the previous fiber's stack
// there and tolerates a nested switch.
#pragma once

namespace weft::hook::detail {

// True if `return_address` (a hook's __builtin_return_address(0)) lies in libweft_hook.so.
bool called_by_weft(const void* return_address) noexcept;

// May the calling fiber park here? Not inside the hooks' own machinery, nor in a lock taken by weft.
bool may_park(const void* return_address) noexcept;

}  // namespace weft::hook::detail
