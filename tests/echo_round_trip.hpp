// echo_round_trip.hpp — one socket round trip through a runtime's reactor: an echo fiber parks on its
// read, the calling fiber writes a text and reads it back (the backend tests' liveness probe).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <fiber/fiber.hpp>
#include <net/net.hpp>
#include <string>
#include <string_view>

// On a fiber: an echo fiber parks on b's read; `text` goes out through a and comes back. Returns what
// came back (throws std::system_error when a step fails or takes over 5 s).
inline std::string echo_through(fiber::net::unix_stream& a, fiber::net::unix_stream& b, std::string_view text) {
  using namespace std::chrono_literals;
  auto echo = fiber::spawn([&b] {
    char buf[64];
    std::size_t n = b.read_some(buf, 5s);
    b.write_all(fiber::net::const_buffer(buf, n), 5s);
  });
  fiber::this_fiber::sleep_for(5ms);  // let the echo fiber park on its read first
  a.write_all(fiber::net::const_buffer(text.data(), text.size()), 5s);
  std::string got(text.size(), '\0');
  got.resize(a.read_exact(fiber::net::mutable_buffer(got.data(), got.size()), 5s));
  echo.join();
  return got;
}

inline void echo_round_trip(fiber::runtime& rt) {
  std::string got = rt.run([] {
    auto ends = fiber::net::unix_stream::pair();
    return echo_through(ends.first, ends.second, "ping");
  });
  EXPECT_EQ(got, "ping");
}
