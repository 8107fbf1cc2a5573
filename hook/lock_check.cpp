// lock_check.cpp — the detector's state and reports (lock_check.hpp).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fiber/detail/fiber_control.hpp>
#include <fiber/detail/park.hpp>
#include <fiber/detail/wait_record.hpp>
#include <fiber/fiber_local.hpp>
#include <hook/held_mutexes.hpp>
#include <hook/lock_check.hpp>

namespace fd = fiber::detail;

namespace weft::hook::detail {

bool lock_check_enabled = false;

namespace {

std::size_t state_key = 0;

__attribute__((constructor)) void read_lock_check_switch() {
  const char* e = std::getenv("WEFT_HOOK_LOCK_CHECK");
  if (e && *e && std::strcmp(e, "0") != 0) {
    state_key = fd::allocate_local_key();
    lock_check_enabled = true;
  }
}

// The fiber-local slot's destructor: the fiber ends.
void on_fiber_end(void* p) noexcept {
  auto* st = static_cast<fiber_lock_state*>(p);
  if (st->held > 0) {
    try {
      if (fd::fiber_control* f = fd::current_fiber())
        warn_once(st, f->describe(), "finishes while holding a pthread mutex");
    } catch (...) {
    }
  }
  drop_held_by(st);  // a later fiber must not inherit its records
  delete st;
}

}  // namespace

fiber_lock_state* current_lock_state() noexcept {
  try {
    fd::local_slot& s = fd::local_slot_for(state_key);
    if (!s.value) {
      s.value = new fiber_lock_state;
      s.destroy = on_fiber_end;
    }
    return static_cast<fiber_lock_state*>(s.value);
  } catch (...) {
    return nullptr;
  }
}

void warn_once(fiber_lock_state* st, const std::string& who, const char* what) noexcept {
  if (!st || st->warned) return;
  st->warned = true;
  std::fprintf(stderr, "weft: %s %s\n", who.c_str(), what);
}

void note_blocking_call(const char* call) noexcept {
  fiber::detail::note_wait_via(call);  // fiber::dump() names the hooked call the next wait serves
  if (!lock_check_enabled || !fd::in_fiber()) return;
  fiber_lock_state* st = lock_state();
  if (!st || st->held <= 0 || st->warned) return;
  try {
    if (fd::fiber_control* f = fd::current_fiber()) {
      const std::string what = std::string("blocks in ") + call + " while holding a pthread mutex";
      warn_once(st, f->describe(), what.c_str());
    }
  } catch (...) {
  }
}

}  // namespace weft::hook::detail
