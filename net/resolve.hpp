// resolve.hpp — DNS and /etc/hosts lookups that park the calling fiber, on c-ares.
//
//   auto eps = net::resolve("localhost", "8080");                 // std::vector<endpoint>
//   auto eps = net::resolve("example.org", "https", ec, 3s);      // error_code form with a deadline
//   net::resolve_options o{.servers = {"127.0.0.1:5353"}, .timeout = 200ms, .tries = 1};
//   auto eps = net::resolve("db.internal", "5432", o);
//
// Semantics: numeric hosts ("10.0.0.1", "::1") never query anything. Otherwise c-ares looks the name
// up in /etc/hosts and then asks the servers of /etc/resolv.conf (or resolve_options::servers). The
// c-ares sockets are waited on through the calling worker's reactor (no resolver thread and no
// blocking getaddrinfo); c-ares' own retry timeouts become park deadlines. From a plain OS thread the
// call blocks that thread in poll(). The result is never empty on success; IPv4 and IPv6 answers keep
// c-ares' order. `service` is a port number or a service name from /etc/services ("http").
//
// Errors: dns_category() codes (net/errors.hpp): dns_errc::not_found, timeout (== std::errc::timed_out),
// server_failure, refused, bad_name, ...; std::errc::operation_canceled on a stop request;
// std::errc::timed_out when the call's own deadline passes first.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <net/deadline.hpp>
#include <net/endpoint.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace fiber::net {

struct resolve_options {
  std::vector<std::string> servers{};    // "ip" or "ip:port" / "[ip6]:port"; empty: /etc/resolv.conf
  std::chrono::milliseconds timeout{0};  // per try; 0: c-ares' default
  int tries = 0;                         // attempts per server; 0: c-ares' default
  int family = AF_UNSPEC;                // AF_INET, AF_INET6 or AF_UNSPEC (both)
};

std::vector<endpoint> resolve(std::string_view host, std::string_view service, deadline d = {});
std::vector<endpoint> resolve(std::string_view host, std::string_view service, std::error_code& ec,
                              deadline d = {}) noexcept;
std::vector<endpoint> resolve(std::string_view host, std::string_view service, const resolve_options& opts,
                              deadline d = {});
std::vector<endpoint> resolve(std::string_view host, std::string_view service, const resolve_options& opts,
                              std::error_code& ec, deadline d = {}) noexcept;

}  // namespace fiber::net
