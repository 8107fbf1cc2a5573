// resolve.cpp — resolve() on c-ares, driven by the calling fiber (net/resolve.hpp).
//
// Design: each call gets its own ares channel (simple, no shared state between fibers; c-ares reads
// /etc/resolv.conf and /etc/hosts per channel). c-ares tells us its sockets through
// ARES_OPT_SOCK_STATE_CB; we keep them in a readiness_set (net/detail/readiness_set.hpp). The caller
// loops: feed what the set reports ready to ares_process_fd; when nothing is, wait on the set with
// ares_timeout() (capped by the caller's deadline) and, on that timeout, let c-ares run its retries
// with ares_process_fd(BAD, BAD). c-ares tells us before it closes a socket (state callback with
// neither direction), so no registration ever outlives a c-ares socket.
#include <ares.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <fiber/detail/wait_record.hpp>
#include <net/detail/readiness_set.hpp>
#include <net/errors.hpp>
#include <net/resolve.hpp>

namespace fiber::net {

namespace {

using fiber::detail::clock;

std::error_code map_ares(int status) noexcept {
  switch (status) {
    case ARES_SUCCESS:
      return {};
    case ARES_ENODATA:
      return make_error_code(dns_errc::no_data);
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
      return make_error_code(dns_errc::not_found);
    case ARES_ESERVFAIL:
      return make_error_code(dns_errc::server_failure);
    case ARES_EREFUSED:
      return make_error_code(dns_errc::refused);
    case ARES_EBADQUERY:
    case ARES_EBADNAME:
    case ARES_EBADSTR:
      return make_error_code(dns_errc::bad_name);
    case ARES_EBADFAMILY:
      return make_error_code(dns_errc::bad_family);
    case ARES_EFORMERR:
    case ARES_EBADRESP:
    case ARES_EOF:
      return make_error_code(dns_errc::bad_response);
    case ARES_ECONNREFUSED:
      return make_error_code(dns_errc::connection_refused);
    case ARES_ETIMEOUT:
      return make_error_code(dns_errc::timeout);
    case ARES_ENOMEM:
      return make_error_code(dns_errc::out_of_memory);
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
      return make_error_code(dns_errc::canceled);
    case ARES_ESERVICE:
      return make_error_code(dns_errc::bad_service);
    default:
      return make_error_code(dns_errc::other);
  }
}

int library_status() noexcept {
  static const int status = ::ares_library_init(ARES_LIB_INIT_ALL);  // once, thread-safe
  return status;
}

struct query {
  detail::readiness_set* sockets = nullptr;
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<endpoint>* out = nullptr;
};

void on_sock_state(void* data, ares_socket_t s, int readable, int writable) {
  auto* q = static_cast<query*>(data);
  if (!readable && !writable) {
    q->sockets->unwatch(s);
    return;
  }
  using namespace fiber::detail;
  (void)q->sockets->watch(s, (readable ? io_readable : 0u) | (writable ? io_writable : 0u));
}

void on_addrinfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
  auto* q = static_cast<query*>(arg);
  q->done = true;
  q->status = status;
  if (status == ARES_SUCCESS && res) {
    try {
      for (auto* n = res->nodes; n; n = n->ai_next) {
        auto e = endpoint::from_sockaddr(n->ai_addr, n->ai_addrlen);
        if (e && std::find(q->out->begin(), q->out->end(), *e) == q->out->end()) q->out->push_back(*e);
      }
    } catch (...) {
      q->status = ARES_ENOMEM;
    }
    if (q->out->empty() && q->status == ARES_SUCCESS) q->status = ARES_ENODATA;
  }
  if (res) ::ares_freeaddrinfo(res);
}

struct channel_guard {
  ares_channel ch = nullptr;
  ~channel_guard() {
    if (ch) ::ares_destroy(ch);
  }
};

}  // namespace

std::vector<endpoint> resolve(std::string_view host, std::string_view service, const resolve_options& opts,
                              std::error_code& ec, deadline d) noexcept {
  ec.clear();
  std::vector<endpoint> out;
  try {
    if (host.empty()) {
      ec = make_error_code(dns_errc::bad_name);
      return out;
    }
    // Numeric host and port: answer without c-ares.
    unsigned port = 0;
    auto [p, pec] = std::from_chars(service.data(), service.data() + service.size(), port);
    bool numeric_port = pec == std::errc() && p == service.data() + service.size() && port <= 65535;
    if (numeric_port) {
      if (auto e = endpoint::from_address(host, static_cast<std::uint16_t>(port))) {
        if (opts.family == AF_UNSPEC || opts.family == e->family())
          out.push_back(*e);
        else
          ec = make_error_code(dns_errc::no_data);
        return out;
      }
    }

    if (int st = library_status(); st != ARES_SUCCESS) {
      ec = map_ares(st);
      return out;
    }
    std::string host_s(host), service_s(service);

    detail::readiness_set sockets;  // declared before the channel: outlives every c-ares socket
    if (!sockets.usable()) {
      ec = detail::errno_code(errno ? errno : ENOMEM);
      return out;
    }
    query q;
    q.out = &out;
    q.sockets = &sockets;

    ares_options ao{};
    int mask = ARES_OPT_SOCK_STATE_CB;
    ao.sock_state_cb = on_sock_state;
    ao.sock_state_cb_data = &q;
    if (opts.timeout.count() > 0) {
      ao.timeout = static_cast<int>(opts.timeout.count());
      mask |= ARES_OPT_TIMEOUTMS;
    }
    if (opts.tries > 0) {
      ao.tries = opts.tries;
      mask |= ARES_OPT_TRIES;
    }
    channel_guard cg;
    if (int st = ::ares_init_options(&cg.ch, &ao, mask); st != ARES_SUCCESS) {
      cg.ch = nullptr;
      ec = map_ares(st);
      return out;
    }
    if (!opts.servers.empty()) {
      std::string csv;
      for (const auto& s : opts.servers) {
        if (!csv.empty()) csv += ',';
        csv += s;
      }
      if (int st = ::ares_set_servers_ports_csv(cg.ch, csv.c_str()); st != ARES_SUCCESS) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return out;
      }
    }

    ares_addrinfo_hints hints{};
    hints.ai_family = opts.family;
    hints.ai_socktype = SOCK_STREAM;  // one entry per address (the port applies to any protocol)
    hints.ai_flags = numeric_port ? ARES_AI_NUMERICSERV : 0;
    ::ares_getaddrinfo(cg.ch, host_s.c_str(), service_s.c_str(), &hints, on_addrinfo, &q);
    fiber::detail::wait_scope ws(fiber::detail::wait_kind::dns, nullptr, 0, host_s.c_str(), d.when());  // fiber::dump()

    while (!q.done) {
      fiber::detail::ready_descriptor ready[8];
      if (int n = sockets.collect(ready, 8); n > 0) {
        using namespace fiber::detail;
        for (int i = 0; i < n; ++i) {
          const int fd = ready[i].fd;
          const bool r = ready[i].events & (io_readable | io_error | io_hangup | io_read_hangup);
          const bool w = ready[i].events & io_writable;
          ::ares_process_fd(cg.ch, r ? fd : ARES_SOCKET_BAD, w ? fd : ARES_SOCKET_BAD);
          if (q.done) break;
        }
        continue;
      }
      timeval tv{};
      auto ares_deadline = fiber::detail::no_deadline;
      if (timeval* t = ::ares_timeout(cg.ch, nullptr, &tv))
        ares_deadline = clock::now() + std::chrono::seconds(t->tv_sec) + std::chrono::microseconds(t->tv_usec);
      auto until = std::min(ares_deadline, d.when());
      auto wec = sockets.wait(until);
      if (!wec) continue;
      if (wec == std::errc::timed_out && ares_deadline <= d.when()) {
        ::ares_process_fd(cg.ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // c-ares retries or gives up
        continue;
      }
      ec = wec;  // our deadline or a stop request: ares_destroy cancels the query
      return {};
    }
    if (q.status != ARES_SUCCESS) {
      ec = map_ares(q.status);
      out.clear();
    }
  } catch (const std::bad_alloc&) {
    ec = make_error_code(dns_errc::out_of_memory);
    out.clear();
  }
  return out;
}

std::vector<endpoint> resolve(std::string_view host, std::string_view service, const resolve_options& opts,
                              deadline d) {
  std::error_code ec;
  auto r = resolve(host, service, opts, ec, d);
  if (ec)
    throw std::system_error(ec, "weft: resolve '" + std::string(host) + "' service '" + std::string(service) + "'");
  return r;
}

std::vector<endpoint> resolve(std::string_view host, std::string_view service, std::error_code& ec,
                              deadline d) noexcept {
  return resolve(host, service, resolve_options{}, ec, d);
}

std::vector<endpoint> resolve(std::string_view host, std::string_view service, deadline d) {
  return resolve(host, service, resolve_options{}, d);
}

}  // namespace fiber::net
