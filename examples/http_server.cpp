// http_server.cpp — a small HTTP/1.1 "hello" server with keep-alive, written in plain blocking style:
// one fiber per connection, read a request, write a response, repeat.
//
//   ./http_server [port]          serve until killed (default 8080); try: curl -v http://127.0.0.1:8080/
//   ./http_server --self-test     serve on a free port, send keep-alive requests to itself, exit 0
#include <cstdlib>
#include <cstring>
#include <fiber/fiber.hpp>
#include <iostream>
#include <net/net.hpp>
#include <string>
#include <string_view>

namespace net = fiber::net;
using namespace std::chrono_literals;

namespace {

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

// Serves requests on one connection until the client closes, asks to close, or idles for 30 s.
void serve(net::tcp_stream conn) {
  std::string in;
  char buf[4096];
  std::error_code ec;
  for (;;) {
    std::size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
      auto n = conn.read_some(buf, ec, 30s);
      if (ec || n == 0 || in.size() > 64 * 1024) return;
      in.append(buf, n);
    }
    std::string_view head(in.data(), end);
    bool close = false;
    bool http10 = head.find("HTTP/1.0") != std::string_view::npos;
    std::size_t pos = 0;
    while ((pos = head.find("\r\n", pos)) != std::string_view::npos) {
      pos += 2;
      auto line = head.substr(pos, head.find("\r\n", pos) - pos);
      if (iequals_prefix(line, "connection:")) {
        close = line.find("close") != std::string_view::npos;
        if (http10 && line.find("keep-alive") != std::string_view::npos) http10 = false;
      }
    }
    close = close || http10;
    in.erase(0, end + 4);  // requests without bodies (GET/HEAD) only
    static constexpr std::string_view body = "Hello, world!\n";
    std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                       (close ? "\r\nConnection: close" : "") + "\r\n\r\n";
    resp += body;
    conn.write_all(resp, ec, 30s);
    if (ec || close) return;
  }
}

void accept_loop(net::tcp_listener& listener) {
  for (;;) {
    std::error_code ec;
    auto conn = listener.accept(ec);
    if (ec == std::errc::bad_file_descriptor) return;
    if (ec) continue;
    conn.set_no_delay(true, ec);
    fiber::spawn(serve, std::move(conn));
  }
}

int self_test() {
  return fiber::run([] {
    auto listener = net::tcp_listener::bind("127.0.0.1:0");
    auto server = fiber::spawn([&] { accept_loop(listener); });
    auto c = net::tcp_stream::connect(listener.local_endpoint(), 5s);
    int ok = 0;
    for (int i = 0; i < 3; ++i) {  // three requests on one keep-alive connection
      c.write_all("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", 5s);
      std::string resp;
      char buf[1024];
      while (resp.find("Hello, world!\n") == std::string::npos) {
        auto n = c.read_some(buf, 5s);
        if (n == 0) break;
        resp.append(buf, n);
      }
      ok += resp.rfind("HTTP/1.1 200 OK", 0) == 0;
    }
    c.write_all("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 5s);
    std::string rest;
    char buf[1024];
    while (auto n = c.read_some(buf, 5s)) rest.append(buf, n);  // server closes after this one
    ok += rest.find("Connection: close") != std::string::npos;
    listener.close();
    server.join();
    std::cout << "http self-test: " << ok << "/4 responses correct\n";
    return ok == 4 ? 0 : 1;
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--self-test") == 0) return self_test();
  int port = argc > 1 ? std::atoi(argv[1]) : 8080;
  return fiber::run([port] {
    auto listener = net::tcp_listener::bind(net::endpoint::any_v4(static_cast<std::uint16_t>(port)));
    std::cout << "http server on http://" << listener.local_endpoint() << "/\n";
    accept_loop(listener);
    return 0;
  });
}
