// tcp_pair.hpp — a connected loopback TCP pair (client side, server side) for the net tests.
#pragma once

#include <chrono>
#include <net/net.hpp>
#include <utility>

inline std::pair<fiber::net::tcp_stream, fiber::net::tcp_stream> connected_pair() {
  using namespace std::chrono_literals;
  auto l = fiber::net::tcp_listener::bind(fiber::net::endpoint::loopback_v4(0));
  auto c = fiber::net::tcp_stream::connect(l.local_endpoint(), 5s);
  auto s = l.accept(5s);
  return {std::move(c), std::move(s)};
}
