// endpoint.hpp — an IPv4 or IPv6 address with a port (a sockaddr_in / sockaddr_in6 by value).
//
//   auto a = net::endpoint::parse("127.0.0.1:8080");   // throws std::system_error(invalid_argument)
//   auto b = net::endpoint::try_parse("[::1]:80");     // std::optional<endpoint>
//   auto c = net::endpoint::loopback_v4(7007);         // also loopback_v6, any_v4, any_v6
//   std::cout << a << '\n';                            // "127.0.0.1:8080", "[::1]:80", "[fe80::1%2]:80"
//
// Invariant: family() is AF_INET or AF_INET6 and the matching union member is fully initialised
// (a default-constructed endpoint is 0.0.0.0:0). Comparisons order by family, address bytes, port,
// then scope id. Names are not endpoints: use resolve() (net/resolve.hpp) for "localhost:80".
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <compare>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace fiber::net {

class endpoint {
 public:
  endpoint() noexcept;  // 0.0.0.0:0

  static std::optional<endpoint> try_parse(std::string_view text) noexcept;  // "ip:port", "[ip6]:port"
  static endpoint parse(std::string_view text);
  // Address without a port ("10.0.0.1", "::1", "fe80::1%eth0") plus a port.
  static std::optional<endpoint> from_address(std::string_view address, std::uint16_t port) noexcept;
  static endpoint loopback_v4(std::uint16_t port = 0) noexcept;
  static endpoint loopback_v6(std::uint16_t port = 0) noexcept;
  static endpoint any_v4(std::uint16_t port = 0) noexcept;
  static endpoint any_v6(std::uint16_t port = 0) noexcept;
  // From a kernel sockaddr (AF_INET or AF_INET6); nullopt for other families or short lengths.
  static std::optional<endpoint> from_sockaddr(const sockaddr* sa, socklen_t len) noexcept;

  int family() const noexcept { return addr_.sa.sa_family; }
  bool is_v4() const noexcept { return family() == AF_INET; }
  bool is_v6() const noexcept { return family() == AF_INET6; }
  std::uint16_t port() const noexcept;
  void set_port(std::uint16_t port) noexcept;
  std::string address() const;    // "127.0.0.1", "::1", "fe80::1%2"
  std::string to_string() const;  // "127.0.0.1:80", "[::1]:80"
  bool is_loopback() const noexcept;

  const sockaddr* data() const noexcept { return &addr_.sa; }
  socklen_t size() const noexcept { return is_v4() ? sizeof(sockaddr_in) : sizeof(sockaddr_in6); }

  friend bool operator==(const endpoint& a, const endpoint& b) noexcept { return compare(a, b) == 0; }
  friend std::strong_ordering operator<=>(const endpoint& a, const endpoint& b) noexcept { return compare(a, b) <=> 0; }

 private:
  static int compare(const endpoint& a, const endpoint& b) noexcept;
  union {
    sockaddr sa;
    sockaddr_in v4;
    sockaddr_in6 v6;
  } addr_;
};

std::ostream& operator<<(std::ostream& os, const endpoint& e);

// Splits "host:port", "[v6]:port" or ":port" into host and service. False if there is no port.
bool split_host_port(std::string_view text, std::string& host, std::string& service);

}  // namespace fiber::net
