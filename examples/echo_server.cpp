// echo_server.cpp — a TCP echo server with one fiber per connection.
//
//   ./echo_server [port]          serve until killed (default port 7007); try: nc 127.0.0.1 7007
//   ./echo_server --self-test     serve on a free port, run a few clients against it, exit 0 on success
#include <cstdlib>
#include <cstring>
#include <fiber/fiber.hpp>
#include <iostream>
#include <net/net.hpp>
#include <string>
#include <vector>

namespace net = fiber::net;
using namespace std::chrono_literals;

// Reads and writes look blocking; each call parks only this connection's fiber.
void serve(net::tcp_stream conn) {
  char buf[4096];
  std::error_code ec;
  while (auto n = conn.read_some(buf, ec)) {
    conn.write_all(net::const_buffer(buf, n), ec);
    if (ec) break;
  }
}

void accept_loop(net::tcp_listener& listener) {
  for (;;) {
    std::error_code ec;
    auto conn = listener.accept(ec);
    if (ec == std::errc::bad_file_descriptor) return;  // listener closed
    if (ec) {
      std::cerr << "accept: " << ec.message() << '\n';  // e.g. EMFILE: accept already paused 10 ms
      continue;
    }
    fiber::spawn(serve, std::move(conn));  // detached: the fiber owns the connection
  }
}

int self_test() {
  return fiber::run([] {
    auto listener = net::tcp_listener::bind("127.0.0.1:0");
    auto ep = listener.local_endpoint();
    auto server = fiber::spawn([&] { accept_loop(listener); });
    std::vector<fiber::join_handle<bool>> clients;
    for (int i = 0; i < 50; ++i)
      clients.push_back(fiber::spawn([ep, i] {
        auto s = net::tcp_stream::connect(ep, 5s);
        std::string msg = "hello from client " + std::to_string(i);
        s.write_all(msg, 5s);
        std::string back(msg.size(), '\0');
        s.read_exact(back, 5s);
        return back == msg;
      }));
    int ok = 0;
    for (auto& c : clients) ok += c.join();
    listener.close();
    server.join();
    std::cout << "echo self-test: " << ok << "/50 clients echoed correctly\n";
    return ok == 50 ? 0 : 1;
  });
}

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--self-test") == 0) return self_test();
  int port = argc > 1 ? std::atoi(argv[1]) : 7007;
  return fiber::run([port] {
    auto listener = net::tcp_listener::bind(net::endpoint::any_v4(static_cast<std::uint16_t>(port)));
    std::cout << "echo server on " << listener.local_endpoint() << '\n';
    accept_loop(listener);
    return 0;
  });
}
