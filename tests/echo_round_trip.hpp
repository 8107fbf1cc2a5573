// echo_round_trip.hpp — one socket round trip through a runtime's reactor: an echo fiber parks on its
// read, the runtime's main fiber writes "ping" and reads it back (the backend tests' liveness probe).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <fiber/fiber.hpp>
#include <net/net.hpp>
#include <string>

inline void echo_round_trip(fiber::runtime& rt) {
  using namespace std::chrono_literals;
  auto ends = fiber::net::unix_stream::pair();  // not a structured binding: clang 14 cannot capture those
  auto& a = ends.first;
  auto& b = ends.second;
  auto echo = rt.spawn([&b] {
    char buf[64];
    std::size_t n = b.read_some(buf, 5s);
    b.write_all(fiber::net::const_buffer(buf, n), 5s);
  });
  std::string got = rt.run([&a] {
    fiber::this_fiber::sleep_for(5ms);  // let the echo fiber park on its read first
    a.write_all(fiber::net::const_buffer("ping", 4), 5s);
    char buf[8];
    std::size_t n = a.read_exact(fiber::net::mutable_buffer(buf, 4), 5s);
    return std::string(buf, n);
  });
  echo.join();
  EXPECT_EQ(got, "ping");
}
