// buffer.hpp — byte views passed to socket reads and writes.
//
//   char raw[64]; std::string s = "hi"; std::vector<std::byte> v(100);
//   stream.read_some(raw);  stream.write_all(s);  stream.read_exact(v);
//   stream.write_all(net::const_buffer(ptr, len));
//   std::array<net::const_buffer, 2> parts{net::const_buffer(hdr), net::const_buffer(body)};
//   stream.writev(parts);   // scatter/gather
//
// mutable_buffer / const_buffer are (pointer, size) pairs. They convert implicitly from any contiguous
// range of trivially copyable elements (arrays, std::string, std::vector, std::span, std::array), and
// const_buffer also from std::string_view, mutable_buffer and string literals / const char* (without
// the terminating NUL). They never own memory.
#pragma once

#include <cstddef>
#include <ranges>
#include <span>
#include <string_view>
#include <type_traits>

namespace fiber::net {

namespace detail {
template <class R>
concept byte_range = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
    std::is_trivially_copyable_v<std::ranges::range_value_t<R>>;
template <class R>
concept mutable_byte_range =
    byte_range<R> && !std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<R>>>;
// `const char[N]` is a string literal: it converts through const char* (strlen, no terminator).
template <class R>
concept char_literal =
    std::is_array_v<std::remove_reference_t<R>> && std::is_same_v < std::remove_extent_t<std::remove_reference_t<R>>,
const char > ;
}  // namespace detail

class mutable_buffer {
 public:
  constexpr mutable_buffer() noexcept = default;
  constexpr mutable_buffer(void* data, std::size_t size) noexcept : data_(data), size_(size) {}
  template <class R>
  requires detail::mutable_byte_range<R> &&(!std::is_same_v<std::remove_cvref_t<R>, mutable_buffer>)
      mutable_buffer(R&& r) noexcept  // NOLINT(google-explicit-constructor, bugprone-forwarding-reference-overload):
                                      // constrained away from buffers
      : data_(std::ranges::data(r)), size_(std::ranges::size(r) * sizeof(std::ranges::range_value_t<R>)) {}

  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  mutable_buffer subspan(std::size_t offset) const noexcept {
    return offset >= size_ ? mutable_buffer(static_cast<std::byte*>(data_) + size_, 0)
                           : mutable_buffer(static_cast<std::byte*>(data_) + offset, size_ - offset);
  }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

class const_buffer {
 public:
  constexpr const_buffer() noexcept = default;
  constexpr const_buffer(const void* data, std::size_t size) noexcept : data_(data), size_(size) {}
  const_buffer(mutable_buffer b) noexcept : data_(b.data()), size_(b.size()) {}    // NOLINT
  const_buffer(std::string_view s) noexcept : data_(s.data()), size_(s.size()) {}  // NOLINT
  const_buffer(const char* s) noexcept : const_buffer(std::string_view(s)) {}      // NOLINT
  template <class R>
  requires detail::byte_range<R> &&(!detail::char_literal<R>)&&(
      !std::is_same_v<std::remove_cvref_t<R>, const_buffer>)&&(!std::is_same_v<std::remove_cvref_t<R>, mutable_buffer>)
      const_buffer(R&& r) noexcept  // NOLINT(google-explicit-constructor, bugprone-forwarding-reference-overload):
                                    // constrained away from buffers
      : data_(std::ranges::data(r)), size_(std::ranges::size(r) * sizeof(std::ranges::range_value_t<R>)) {}

  const void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  const_buffer subspan(std::size_t offset) const noexcept {
    return offset >= size_ ? const_buffer(static_cast<const std::byte*>(data_) + size_, 0)
                           : const_buffer(static_cast<const std::byte*>(data_) + offset, size_ - offset);
  }

 private:
  const void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace fiber::net
