// errors.cpp — weft's net and DNS error categories (see net/errors.hpp).
#include <net/errors.hpp>
#include <string>

namespace fiber::net {

namespace {

class net_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "weft.net"; }
  std::string message(int c) const override {
    switch (static_cast<net_errc>(c)) {
      case net_errc::end_of_stream:
        return "end of stream: the peer closed the connection before all bytes arrived";
    }
    return "unknown net error " + std::to_string(c);
  }
};

class dns_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "weft.dns"; }
  std::string message(int c) const override {
    switch (static_cast<dns_errc>(c)) {
      case dns_errc::not_found:
        return "host not found";
      case dns_errc::no_data:
        return "the name has no address of the requested kind";
      case dns_errc::timeout:
        return "DNS timeout: no name server answered in time";
      case dns_errc::server_failure:
        return "DNS server failure";
      case dns_errc::refused:
        return "DNS query refused by the server";
      case dns_errc::bad_name:
        return "malformed host name";
      case dns_errc::bad_family:
        return "unsupported address family";
      case dns_errc::bad_service:
        return "unknown service (neither a port number nor a known service name)";
      case dns_errc::connection_refused:
        return "could not contact any DNS server";
      case dns_errc::bad_response:
        return "malformed DNS response";
      case dns_errc::canceled:
        return "DNS query canceled";
      case dns_errc::out_of_memory:
        return "out of memory while resolving";
      case dns_errc::other:
        return "name resolution failed";
    }
    return "unknown DNS error " + std::to_string(c);
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    if (static_cast<dns_errc>(c) == dns_errc::timeout) return std::errc::timed_out;
    if (static_cast<dns_errc>(c) == dns_errc::canceled) return std::errc::operation_canceled;
    return {c, *this};
  }
};

}  // namespace

const std::error_category& net_category() noexcept {
  static const net_category_impl c;
  return c;
}

const std::error_category& dns_category() noexcept {
  static const dns_category_impl c;
  return c;
}

namespace detail {
void throw_if(const std::error_code& ec, const char* what) {
  if (ec) throw std::system_error(ec, std::string("weft: ") + what);
}
}  // namespace detail

}  // namespace fiber::net
