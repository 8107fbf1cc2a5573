// errors.hpp — how net/ reports failures.
//
// Every blocking call of fiber::net has two forms:
//   auto n = s.read_some(buf);          // throws std::system_error on failure
//   auto n = s.read_some(buf, ec);      // sets `ec` (cleared on success), never throws
// Socket errors are errno values in std::generic_category(), so they compare equal to std::errc:
//   std::errc::timed_out            the call's deadline passed (nothing was lost; you may retry)
//   std::errc::operation_canceled   the calling fiber's stop token was triggered
//   std::errc::bad_file_descriptor  the socket was closed (possibly by another fiber while waiting)
//   std::errc::connection_refused / connection_reset / broken_pipe / ...   as reported by the kernel
// Two weft categories add what errno cannot say:
//   net_category(): net_errc::end_of_stream — read_exact met EOF before the buffer was full.
//   dns_category(): resolve() failures (not found, timeout, server failure, ...). dns_errc::timeout
//   compares equal to std::errc::timed_out.
#pragma once

#include <string>
#include <system_error>

namespace fiber::net {

enum class net_errc {
  end_of_stream = 1,  // the peer closed the stream before the requested bytes arrived
};

enum class dns_errc {
  not_found = 1,       // the name does not exist (NXDOMAIN) or no address of the asked family
  no_data,             // the name exists but has no address records
  timeout,             // no server answered in time (after every try)
  server_failure,      // the server could not answer (SERVFAIL)
  refused,             // the server refused the query
  bad_name,            // the name is malformed
  bad_family,          // unsupported address family
  bad_service,         // the service (port) is neither a number nor a known service name
  connection_refused,  // no server could be contacted
  bad_response,        // malformed answer
  canceled,            // the query was canceled
  out_of_memory,
  other,  // any other resolver failure
};

const std::error_category& net_category() noexcept;
const std::error_category& dns_category() noexcept;

inline std::error_code make_error_code(net_errc e) noexcept {
  return {static_cast<int>(e), net_category()};
}
inline std::error_code make_error_code(dns_errc e) noexcept {
  return {static_cast<int>(e), dns_category()};
}

namespace detail {
// errno -> error_code in the generic category.
inline std::error_code errno_code(int e) noexcept {
  return {e, std::generic_category()};
}
inline std::error_code errc_code(std::errc e) noexcept {
  return std::make_error_code(e);
}
// Throws std::system_error(ec, "weft: <what>") when ec is set.
void throw_if(const std::error_code& ec, const char* what);
// The throwing form of an std::error_code call: returns f(ec)'s result, or throws as throw_if does.
template <class F>
auto value_or_throw(const char* what, F&& f) {
  std::error_code ec;
  auto result = f(ec);
  throw_if(ec, what);
  return result;
}
}  // namespace detail

}  // namespace fiber::net

template <>
struct std::is_error_code_enum<fiber::net::net_errc> : std::true_type {};
template <>
struct std::is_error_code_enum<fiber::net::dns_errc> : std::true_type {};
