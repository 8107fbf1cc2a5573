// concurrent_download.cpp — the classic "download two pages concurrently": two fiber::spawn'ed HTTP
// GETs joined, with one deadline around the whole. Runs offline against a tiny HTTP server fiber
// started here on 127.0.0.1.
//
//   ./concurrent_download        prints both sizes and exits 0
#include <fiber/fiber.hpp>
#include <iostream>
#include <net/net.hpp>
#include <string>

namespace net = fiber::net;
using namespace std::chrono_literals;

// A GET in blocking style; every step shares the caller's deadline.
std::string http_get(const std::string& host_port, const std::string& path, net::deadline d) {
  auto s = net::tcp_stream::connect(host_port, d);  // resolves the name through c-ares
  s.write_all("GET " + path + " HTTP/1.1\r\nHost: " + host_port + "\r\nConnection: close\r\n\r\n", d);
  std::string resp;
  char buf[8192];
  while (auto n = s.read_some(buf, d)) resp.append(buf, n);
  auto body = resp.find("\r\n\r\n");
  if (resp.rfind("HTTP/1.1 200", 0) != 0 || body == std::string::npos) throw std::runtime_error("bad response");
  return resp.substr(body + 4);
}

// The local "web": /small is 1 KiB, /large is 1 MiB.
void serve_pages(net::tcp_listener& l) {
  for (;;) {
    std::error_code ec;
    auto c = l.accept(ec);
    if (ec) return;
    fiber::spawn(
        [](net::tcp_stream c) {
          std::string req;
          char buf[2048];
          std::error_code e;
          while (req.find("\r\n\r\n") == std::string::npos) {
            auto n = c.read_some(buf, e, 5s);
            if (e || n == 0) return;
            req.append(buf, n);
          }
          std::size_t size = req.rfind("GET /large", 0) == 0 ? (1 << 20) : 1024;
          std::string resp =
              "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) + "\r\nConnection: close\r\n\r\n";
          resp.append(size, 'w');
          c.write_all(resp, e, 5s);
        },
        std::move(c));
  }
}

int main() {
  return fiber::run([] {
    auto listener = net::tcp_listener::bind("127.0.0.1:0");
    auto server = fiber::spawn([&] { serve_pages(listener); });
    std::string where = "localhost:" + std::to_string(listener.local_endpoint().port());

    net::deadline all(5s);  // one timeout around the whole download
    auto a = fiber::spawn([&] { return http_get(where, "/small", all); });
    auto b = fiber::spawn([&] { return http_get(where, "/large", all); });
    int rc = 0;
    try {
      auto pa = a.join();
      auto pb = b.join();
      std::cout << "/small: " << pa.size() << " bytes\n/large: " << pb.size() << " bytes\n";
      rc = pa.size() == 1024 && pb.size() == (1u << 20) ? 0 : 1;
    } catch (const std::exception& e) {
      std::cerr << "download failed: " << e.what() << '\n';
      rc = 1;
    }
    listener.close();
    server.join();
    return rc;
  });
}
