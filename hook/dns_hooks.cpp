// dns_hooks.cpp — getaddrinfo, freeaddrinfo, getnameinfo, gethostbyname(2)(_r).
//
// Owns: name resolution on fibers, and the ownership of every addrinfo list we hand out.
// - getaddrinfo on a fiber, for a host *name*: resolved through fiber::net::resolve (c-ares driven
//   by the worker's reactor: /etc/hosts, then the servers of /etc/resolv.conf), expanded into one
//   addrinfo per (address, socket type) in glibc's order (TCP, UDP, RAW when ai_socktype is 0),
//   with the service resolved as glibc does (/etc/services, only the protocols that define it).
//   Numeric hosts, a null host and AI_NUMERICHOST never touch the network: they go straight to
//   libc on the fiber, so results are glibc's own. AI_ADDRCONFIG and flags we do not model (AI_IDN,
//   ...) run glibc's getaddrinfo on the fiber::blocking pool: exact results, the fiber parks.
//   AI_CANONNAME on the c-ares path reports the queried name. Errors map onto EAI_* as glibc's
//   (unknown name EAI_NONAME, no server answer EAI_AGAIN, bad service EAI_SERVICE, ...).
// - Our lists live in one malloc'd block each, recorded in a registry; freeaddrinfo frees exactly
//   those and hands every other list to libc's freeaddrinfo (so libc never frees ours and vice versa).
// - getnameinfo with NI_NUMERICHOST (and a numeric or no service) is libc's on the fiber (no
//   lookup); otherwise, and gethostbyname/gethostbyname2(_r), run glibc's on the fiber::blocking pool
//   (h_errno is carried back to the caller's thread).
// Off a fiber every call is libc's.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <fiber/blocking.hpp>
#include <fiber/detail/spinlock.hpp>
#include <fiber/detail/park.hpp>
#include <hook/original.hpp>
#include <mutex>
#include <net/errors.hpp>
#include <net/resolve.hpp>
#include <string>
#include <unordered_set>
#include <vector>

namespace {

namespace net = fiber::net;

struct registry {
  fiber::detail::spinlock lock;
  std::unordered_set<const void*> ours;
};
registry& lists() {
  static auto* r = new registry;  // leaked: lists may be freed during static destruction
  return *r;
}

struct kind {
  int socktype;
  int protocol;
  int port;  // host order
};

// glibc's expansion of (ai_socktype, ai_protocol, service) into socket kinds; 0 or an EAI_* code.
int service_kinds(const char* service, const addrinfo& h, std::vector<kind>& out) {
  const kind all[] = {{SOCK_STREAM, IPPROTO_TCP, 0}, {SOCK_DGRAM, IPPROTO_UDP, 0}, {SOCK_RAW, 0, 0}};
  bool numeric = false;
  long port = 0;
  if (service) {
    char* end = nullptr;
    port = std::strtol(service, &end, 10);
    numeric = *service != '\0' && end && *end == '\0';
    if (!numeric && (h.ai_flags & AI_NUMERICSERV)) return EAI_NONAME;
  }
  for (kind k : all) {
    if (h.ai_socktype != 0 && h.ai_socktype != k.socktype) continue;
    if (h.ai_protocol != 0 && k.protocol != 0 && h.ai_protocol != k.protocol) continue;
    if (k.socktype == SOCK_RAW) k.protocol = h.ai_protocol;
    if (service && !numeric) {
      if (k.socktype == SOCK_RAW) continue;
      servent se{};
      servent* found = nullptr;
      char buf[1024];
      ::getservbyname_r(service, k.socktype == SOCK_STREAM ? "tcp" : "udp", &se, buf, sizeof buf, &found);
      if (!found) continue;
      k.port = ntohs(static_cast<std::uint16_t>(found->s_port));
    } else {
      k.port = static_cast<int>(static_cast<std::uint16_t>(port));
    }
    out.push_back(k);
  }
  if (out.empty()) return EAI_SERVICE;
  return 0;
}

int eai_for(const std::error_code& ec) {
  if (ec.category() == net::dns_category()) {
    switch (static_cast<net::dns_errc>(ec.value())) {
      case net::dns_errc::not_found:
      case net::dns_errc::bad_name:
        return EAI_NONAME;
      case net::dns_errc::no_data:
        return EAI_NODATA;
      case net::dns_errc::timeout:
      case net::dns_errc::server_failure:
      case net::dns_errc::refused:
      case net::dns_errc::connection_refused:
      case net::dns_errc::canceled:
        return EAI_AGAIN;
      case net::dns_errc::bad_family:
        return EAI_FAMILY;
      case net::dns_errc::bad_service:
        return EAI_SERVICE;
      case net::dns_errc::out_of_memory:
        return EAI_MEMORY;
      default:
        return EAI_FAIL;
    }
  }
  if (ec == std::errc::timed_out || ec == std::errc::operation_canceled) return EAI_AGAIN;
  if (ec == std::errc::not_enough_memory) return EAI_MEMORY;
  return EAI_FAIL;
}

// One malloc'd block: [addrinfo x n][sockaddr_in6 x n][canonical name].
addrinfo* build_list(const std::vector<net::endpoint>& eps, const std::vector<kind>& kinds, const char* canon) {
  size_t n = eps.size() * kinds.size();
  size_t canon_len = canon ? std::strlen(canon) + 1 : 0;
  size_t bytes = n * (sizeof(addrinfo) + sizeof(sockaddr_in6)) + canon_len;
  auto* block = static_cast<char*>(std::calloc(1, bytes));
  if (!block) return nullptr;
  auto* ais = reinterpret_cast<addrinfo*>(block);
  auto* addrs = reinterpret_cast<sockaddr_in6*>(block + n * sizeof(addrinfo));
  char* canon_copy = canon ? block + n * (sizeof(addrinfo) + sizeof(sockaddr_in6)) : nullptr;
  if (canon_copy) std::memcpy(canon_copy, canon, canon_len);
  size_t i = 0;
  for (const auto& ep : eps) {
    for (const kind& k : kinds) {
      addrinfo& ai = ais[i];
      std::memcpy(&addrs[i], ep.data(), ep.size());
      ai.ai_family = ep.family();
      ai.ai_socktype = k.socktype;
      ai.ai_protocol = k.protocol;
      ai.ai_addrlen = ep.size();
      ai.ai_addr = reinterpret_cast<sockaddr*>(&addrs[i]);
      if (ep.family() == AF_INET)
        reinterpret_cast<sockaddr_in*>(&addrs[i])->sin_port = htons(static_cast<std::uint16_t>(k.port));
      else
        addrs[i].sin6_port = htons(static_cast<std::uint16_t>(k.port));
      ai.ai_canonname = i == 0 ? canon_copy : nullptr;
      ai.ai_next = i + 1 < n ? &ais[i + 1] : nullptr;
      ++i;
    }
  }
  std::lock_guard g(lists().lock);
  lists().ours.insert(ais);
  return ais;
}

bool is_numeric_host(const char* node) {
  in_addr a4;
  in6_addr a6;
  if (::inet_aton(node, &a4)) return true;  // glibc accepts inet_aton's forms ("127.1")
  std::string host(node);
  if (auto pct = host.find('%'); pct != std::string::npos) host.resize(pct);  // "fe80::1%eth0"
  return ::inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

int resolve_name(const char* node, const char* service, const addrinfo& h, addrinfo** res) {
  constexpr int modelled = AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_NUMERICSERV | AI_V4MAPPED | AI_ALL;
  if (h.ai_flags & ~modelled) return -1;  // caller falls back to glibc
  if (h.ai_family != AF_UNSPEC && h.ai_family != AF_INET && h.ai_family != AF_INET6) return EAI_FAMILY;
  if (h.ai_socktype != 0 && h.ai_socktype != SOCK_STREAM && h.ai_socktype != SOCK_DGRAM && h.ai_socktype != SOCK_RAW)
    return -1;  // SOCK_SEQPACKET etc.: glibc decides
  std::vector<kind> kinds;
  if (int e = service_kinds(service, h, kinds)) return e;
  bool mapped = h.ai_family == AF_INET6 && (h.ai_flags & AI_V4MAPPED);
  net::resolve_options opts;
  opts.family = mapped ? AF_UNSPEC : h.ai_family;
  std::error_code ec;
  auto eps = net::resolve(node, "0", opts, ec);
  if (ec) return eai_for(ec);
  if (mapped) {
    bool any6 = false;
    for (auto& ep : eps) any6 = any6 || ep.is_v6();
    std::vector<net::endpoint> out;
    for (auto& ep : eps) {
      if (ep.is_v6()) {
        out.push_back(ep);
      } else if (!any6 || (h.ai_flags & AI_ALL)) {
        sockaddr_in6 s6{};
        s6.sin6_family = AF_INET6;
        s6.sin6_addr.s6_addr[10] = 0xff;
        s6.sin6_addr.s6_addr[11] = 0xff;
        std::memcpy(&s6.sin6_addr.s6_addr[12], &reinterpret_cast<const sockaddr_in*>(ep.data())->sin_addr, 4);
        if (auto m = net::endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&s6), sizeof s6)) out.push_back(*m);
      }
    }
    eps = std::move(out);
    if (eps.empty()) return EAI_NONAME;
  }
  addrinfo* list = build_list(eps, kinds, (h.ai_flags & AI_CANONNAME) ? node : nullptr);
  if (!list) return EAI_MEMORY;
  *res = list;
  return 0;
}

}  // namespace

extern "C" {

int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res) {
  auto orig = WEFT_ORIG(getaddrinfo);
  if (!fiber::detail::in_fiber() || node == nullptr || (hints && (hints->ai_flags & AI_NUMERICHOST)) ||
      is_numeric_host(node))
    return orig(node, service, hints, res);  // no lookup involved: glibc's own answer
  addrinfo h{};
  h.ai_family = AF_UNSPEC;
  if (hints) h = *hints;
  int r = resolve_name(node, service, h, res);
  if (r >= 0) return r;
  return fiber::blocking([&] { return orig(node, service, hints, res); });
}

void freeaddrinfo(addrinfo* ai) noexcept {
  if (!ai) return;
  {
    std::lock_guard g(lists().lock);
    if (lists().ours.erase(ai) == 1) {
      std::free(ai);  // the block starts with the first addrinfo
      return;
    }
  }
  WEFT_ORIG(freeaddrinfo)(ai);
}

int getnameinfo(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen, char* serv, socklen_t servlen,
                int flags) {
  auto orig = WEFT_ORIG(getnameinfo);
  bool numeric = (!host || (flags & NI_NUMERICHOST)) && (!serv || (flags & NI_NUMERICSERV));
  if (!fiber::detail::in_fiber() || numeric) return orig(sa, salen, host, hostlen, serv, servlen, flags);
  return fiber::blocking([&] { return orig(sa, salen, host, hostlen, serv, servlen, flags); });
}

hostent* gethostbyname(const char* name) {
  auto orig = WEFT_ORIG(gethostbyname);
  if (!fiber::detail::in_fiber()) return orig(name);
  int herr = 0;
  hostent* r = fiber::blocking([&] {
    hostent* h = orig(name);
    herr = h_errno;
    return h;
  });
  h_errno = herr;
  return r;
}

hostent* gethostbyname2(const char* name, int af) {
  auto orig = WEFT_ORIG(gethostbyname2);
  if (!fiber::detail::in_fiber()) return orig(name, af);
  int herr = 0;
  hostent* r = fiber::blocking([&] {
    hostent* h = orig(name, af);
    herr = h_errno;
    return h;
  });
  h_errno = herr;
  return r;
}

int gethostbyname_r(const char* name, hostent* ret, char* buf, size_t buflen, hostent** result, int* herr) {
  auto orig = WEFT_ORIG(gethostbyname_r);
  if (!fiber::detail::in_fiber()) return orig(name, ret, buf, buflen, result, herr);
  return fiber::blocking([&] { return orig(name, ret, buf, buflen, result, herr); });
}

int gethostbyname2_r(const char* name, int af, hostent* ret, char* buf, size_t buflen, hostent** result, int* herr) {
  auto orig = WEFT_ORIG(gethostbyname2_r);
  if (!fiber::detail::in_fiber()) return orig(name, af, ret, buf, buflen, result, herr);
  return fiber::blocking([&] { return orig(name, af, ret, buf, buflen, result, herr); });
}

}  // extern "C"
