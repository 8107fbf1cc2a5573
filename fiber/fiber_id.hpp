// fiber_id.hpp — identity of a fiber (or of an OS thread, for calls made outside any fiber).
// The twin of std::thread::id: default-constructed means "no fiber"; ordered, hashable, printable
// to narrow and wide streams. The comparisons are namespace-scope functions, as std's are, so they
// can be named (fiber::operator==) and apply to types that convert to fiber_id.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>

namespace fiber {

class fiber_id {
 public:
  constexpr fiber_id() noexcept = default;
  constexpr explicit fiber_id(std::uint64_t v) noexcept : value_(v) {}
  constexpr std::uint64_t value() const noexcept { return value_; }

 private:
  std::uint64_t value_ = 0;
};

constexpr bool operator==(fiber_id a, fiber_id b) noexcept {
  return a.value() == b.value();
}
constexpr std::strong_ordering operator<=>(fiber_id a, fiber_id b) noexcept {
  return a.value() <=> b.value();
}

template <class CharT, class Traits>
std::basic_ostream<CharT, Traits>& operator<<(std::basic_ostream<CharT, Traits>& os, fiber_id id) {
  // As std::thread::id prints a default id: a fixed text, not a number any fiber could have.
  if (id.value() == 0) return os << "fiber::id of a non-executing fiber";
  return os << id.value();
}

}  // namespace fiber

template <>
struct std::hash<fiber::fiber_id> {
  std::size_t operator()(fiber::fiber_id id) const noexcept { return std::hash<std::uint64_t>{}(id.value()); }
};
