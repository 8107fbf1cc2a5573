// fiber_id.hpp — identity of a fiber (or of an OS thread, for calls made outside any fiber).
// The twin of std::thread::id: default-constructed means "no fiber"; ordered, hashable, printable.
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
  friend constexpr bool operator==(fiber_id, fiber_id) noexcept = default;
  friend constexpr std::strong_ordering operator<=>(fiber_id, fiber_id) noexcept = default;
  friend std::ostream& operator<<(std::ostream& os, fiber_id id) {
    if (id.value_ == 0) return os << "fiber::id of a non-executing fiber";
    return os << id.value_;
  }

 private:
  std::uint64_t value_ = 0;
};

}  // namespace fiber

template <>
struct std::hash<fiber::fiber_id> {
  std::size_t operator()(fiber::fiber_id id) const noexcept { return std::hash<std::uint64_t>{}(id.value()); }
};
