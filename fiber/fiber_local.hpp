// fiber_local.hpp — fiber::fiber_local<T>: per-fiber storage, the twin of thread_local.
//
//   fiber::fiber_local<int> requests;          // usually a static or global
//   ++*requests;                               // this fiber's own counter, starting at T{}
//
// Each fiber sees its own T, constructed on first access (a copy of the initial value given to
// the constructor, or T{}), destroyed on that fiber when it finishes. Outside any fiber the value
// belongs to the calling OS thread and is destroyed at thread exit — so code that ports
// `thread_local` to fiber_local keeps working on main and plain threads.
#pragma once

#include <fiber/detail/local_slot.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>

namespace fiber {

namespace detail {
std::size_t allocate_local_key() noexcept;
local_slot& local_slot_for(std::size_t key);  // the calling fiber's (or thread's) slot
}  // namespace detail

template <class T>
class fiber_local {
 public:
  fiber_local() : make_([] { return new T(); }) {}
  explicit fiber_local(T initial) : make_([v = std::move(initial)] { return new T(v); }) {}
  fiber_local(const fiber_local&) = delete;
  fiber_local& operator=(const fiber_local&) = delete;

  T& get() {
    detail::local_slot& s = detail::local_slot_for(key_);
    if (!s.value) {
      s.value = make_();
      s.destroy = [](void* p) { delete static_cast<T*>(p); };
    }
    return *static_cast<T*>(s.value);
  }
  T& operator*() { return get(); }
  T* operator->() { return &get(); }
  fiber_local& operator=(T value) {
    get() = std::move(value);
    return *this;
  }

 private:
  std::size_t key_ = detail::allocate_local_key();
  std::function<T*()> make_;
};

}  // namespace fiber
