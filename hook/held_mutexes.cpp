// held_mutexes.cpp — the per-worker records of held_mutexes.hpp.
#include <hook/held_mutexes.hpp>
#include <vector>

namespace weft::hook::detail {

namespace {
thread_local std::vector<held_record> tls_held;
}

held_record* find_held(const pthread_mutex_t* m) noexcept {
  for (auto it = tls_held.rbegin(); it != tls_held.rend(); ++it)
    if (it->m == m) return &*it;
  return nullptr;
}

void add_held(const held_record& r) {
  tls_held.push_back(r);
}

void drop_held(held_record* r) noexcept {
  *r = tls_held.back();
  tls_held.pop_back();
}

void drop_held_by(const fiber_lock_state* st) noexcept {
  for (std::size_t i = tls_held.size(); i-- > 0;)
    if (tls_held[i].state == st) drop_held(&tls_held[i]);
}

}  // namespace weft::hook::detail
