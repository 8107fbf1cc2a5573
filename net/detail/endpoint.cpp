// endpoint.cpp — parsing and printing of IPv4/IPv6 endpoints (see net/endpoint.hpp).
#include <arpa/inet.h>
#include <net/if.h>

#include <charconv>
#include <cstring>
#include <net/endpoint.hpp>
#include <net/errors.hpp>
#include <ostream>

namespace fiber::net {

endpoint::endpoint() noexcept {
  std::memset(&addr_, 0, sizeof addr_);
  addr_.v4.sin_family = AF_INET;
}

std::optional<endpoint> endpoint::from_address(std::string_view address, std::uint16_t port) noexcept {
  if (address.empty() || address.size() > 100) return std::nullopt;
  char buf[128];
  std::memcpy(buf, address.data(), address.size());
  buf[address.size()] = '\0';
  endpoint e;
  if (address.find(':') == std::string_view::npos) {
    if (::inet_pton(AF_INET, buf, &e.addr_.v4.sin_addr) != 1) return std::nullopt;
    e.addr_.v4.sin_family = AF_INET;
    e.addr_.v4.sin_port = htons(port);
    return e;
  }
  std::memset(&e.addr_, 0, sizeof e.addr_);
  e.addr_.v6.sin6_family = AF_INET6;
  e.addr_.v6.sin6_port = htons(port);
  char* pct = std::strchr(buf, '%');
  if (pct) {
    *pct = '\0';
    const char* scope = pct + 1;
    unsigned id = 0;
    auto [p, ec] = std::from_chars(scope, scope + std::strlen(scope), id);
    if (ec != std::errc() || *p != '\0') id = ::if_nametoindex(scope);
    if (id == 0) return std::nullopt;
    e.addr_.v6.sin6_scope_id = id;
  }
  if (::inet_pton(AF_INET6, buf, &e.addr_.v6.sin6_addr) != 1) return std::nullopt;
  return e;
}

bool split_host_port(std::string_view text, std::string& host, std::string& service) {
  if (text.empty()) return false;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    host.assign(text.substr(1, close - 1));
    service.assign(text.substr(close + 2));
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    // A bare IPv6 address has several colons and needs brackets to carry a port.
    if (text.find(':') != colon) return false;
    host.assign(text.substr(0, colon));
    service.assign(text.substr(colon + 1));
  }
  return !service.empty();
}

std::optional<endpoint> endpoint::try_parse(std::string_view text) noexcept {
  std::string host, service;
  try {
    if (!split_host_port(text, host, service)) return std::nullopt;
  } catch (...) {
    return std::nullopt;
  }
  unsigned port = 0;
  auto [p, ec] = std::from_chars(service.data(), service.data() + service.size(), port);
  if (ec != std::errc() || p != service.data() + service.size() || port > 65535) return std::nullopt;
  if (text.front() != '[' && host.find(':') != std::string::npos) return std::nullopt;
  if (text.front() == '[' && host.find(':') == std::string::npos) return std::nullopt;
  return from_address(host, static_cast<std::uint16_t>(port));
}

endpoint endpoint::parse(std::string_view text) {
  auto e = try_parse(text);
  if (!e)
    throw std::system_error(
        std::make_error_code(std::errc::invalid_argument),
        "weft: endpoint::parse: not an \"ip:port\" or \"[ipv6]:port\": '" + std::string(text) + "'");
  return *e;
}

endpoint endpoint::loopback_v4(std::uint16_t port) noexcept {
  endpoint e;
  e.addr_.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  e.addr_.v4.sin_port = htons(port);
  return e;
}

endpoint endpoint::any_v4(std::uint16_t port) noexcept {
  endpoint e;
  e.addr_.v4.sin_port = htons(port);
  return e;
}

endpoint endpoint::loopback_v6(std::uint16_t port) noexcept {
  endpoint e = any_v6(port);
  e.addr_.v6.sin6_addr = in6addr_loopback;
  return e;
}

endpoint endpoint::any_v6(std::uint16_t port) noexcept {
  endpoint e;
  std::memset(&e.addr_, 0, sizeof e.addr_);
  e.addr_.v6.sin6_family = AF_INET6;
  e.addr_.v6.sin6_port = htons(port);
  return e;
}

std::optional<endpoint> endpoint::from_sockaddr(const sockaddr* sa, socklen_t len) noexcept {
  if (!sa) return std::nullopt;
  endpoint e;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    std::memcpy(&e.addr_.v4, sa, sizeof(sockaddr_in));
    return e;
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    std::memset(&e.addr_, 0, sizeof e.addr_);
    std::memcpy(&e.addr_.v6, sa, sizeof(sockaddr_in6));
    return e;
  }
  return std::nullopt;
}

std::uint16_t endpoint::port() const noexcept {
  return ntohs(is_v4() ? addr_.v4.sin_port : addr_.v6.sin6_port);
}

void endpoint::set_port(std::uint16_t port) noexcept {
  if (is_v4())
    addr_.v4.sin_port = htons(port);
  else
    addr_.v6.sin6_port = htons(port);
}

bool endpoint::is_loopback() const noexcept {
  if (is_v4()) return (ntohl(addr_.v4.sin_addr.s_addr) >> 24) == 127;
  return IN6_IS_ADDR_LOOPBACK(&addr_.v6.sin6_addr);
}

std::string endpoint::address() const {
  char buf[INET6_ADDRSTRLEN + 16];
  if (is_v4()) {
    ::inet_ntop(AF_INET, &addr_.v4.sin_addr, buf, sizeof buf);
    return buf;
  }
  ::inet_ntop(AF_INET6, &addr_.v6.sin6_addr, buf, sizeof buf);
  std::string s = buf;
  if (addr_.v6.sin6_scope_id != 0) s += '%' + std::to_string(addr_.v6.sin6_scope_id);
  return s;
}

std::string endpoint::to_string() const {
  if (is_v4()) return address() + ':' + std::to_string(port());
  return '[' + address() + "]:" + std::to_string(port());
}

int endpoint::compare(const endpoint& a, const endpoint& b) noexcept {
  if (a.family() != b.family()) return a.family() < b.family() ? -1 : 1;
  int c;
  if (a.is_v4()) {
    c = std::memcmp(&a.addr_.v4.sin_addr, &b.addr_.v4.sin_addr, sizeof(in_addr));
  } else {
    c = std::memcmp(&a.addr_.v6.sin6_addr, &b.addr_.v6.sin6_addr, sizeof(in6_addr));
  }
  if (c != 0) return c < 0 ? -1 : 1;
  if (a.port() != b.port()) return a.port() < b.port() ? -1 : 1;
  if (a.is_v6() && a.addr_.v6.sin6_scope_id != b.addr_.v6.sin6_scope_id)
    return a.addr_.v6.sin6_scope_id < b.addr_.v6.sin6_scope_id ? -1 : 1;
  return 0;
}

std::ostream& operator<<(std::ostream& os, const endpoint& e) {
  return os << e.to_string();
}

}  // namespace fiber::net
