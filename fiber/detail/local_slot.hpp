// local_slot.hpp — one fiber_local<T> value of a fiber or thread (see fiber/fiber_local.hpp).
#pragma once

namespace fiber::detail {

// Per-fiber slots of fiber_local<T> (see fiber_local.hpp).
struct local_slot {
  void* value = nullptr;
  void (*destroy)(void*) = nullptr;
};

}  // namespace fiber::detail
