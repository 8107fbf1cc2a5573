// blocking.hpp — fiber::blocking(f): run code that would block its worker (file I/O, a legacy
// library, a long computation) on an offload thread while the calling fiber parks.
//
//   std::string text = fiber::blocking([&] { return read_whole_file(path); });
//
// Returns f's result or rethrows its exception. Called outside a fiber it simply runs f. The pool
// grows on demand up to WEFT_BLOCKING_THREADS (default 64) threads; beyond that calls queue.
#pragma once

#include <fiber/detail/park.hpp>

#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

namespace fiber {

namespace detail {
// Runs job(arg) on the offload pool; the calling fiber parks until it returns.
void run_offloaded(void (*job)(void*), void* arg);
}  // namespace detail

template <class F>
auto blocking(F&& f) -> std::invoke_result_t<F&&> {
  using R = std::invoke_result_t<F&&>;
  if (!detail::in_fiber()) return std::invoke(std::forward<F>(f));
  struct state {
    F&& fn;
    std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> result{};
    std::exception_ptr error;
  } st{std::forward<F>(f), {}, {}};
  detail::run_offloaded(
      [](void* p) {
        auto* s = static_cast<state*>(p);
        try {
          if constexpr (std::is_void_v<R>) {
            std::invoke(std::forward<F>(s->fn));
          } else {
            s->result.emplace(std::invoke(std::forward<F>(s->fn)));
          }
        } catch (...) {
          s->error = std::current_exception();
        }
      },
      &st);
  if (st.error) std::rethrow_exception(st.error);
  if constexpr (!std::is_void_v<R>) return std::move(*st.result);
}

}  // namespace fiber
