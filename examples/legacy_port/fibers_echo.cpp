// fibers_echo.cpp — threads_echo.cpp ported to fibers: std::thread -> fiber::thread, link weft::hook.
// Every read/write/close in serve() now parks its fiber instead of blocking an OS thread.
//   fibers_echo [port] [connections-to-serve]   (port 0: any; prints the port; -1: serve forever)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fiber/fiber.hpp>
#include <vector>

static void serve(int c) {
  char buf[4096];
  ssize_t n;
  while ((n = read(c, buf, sizeof buf)) > 0) {
    if (write(c, buf, static_cast<size_t>(n)) != n) break;
  }
  close(c);
}

int main(int argc, char** argv) {
  int port = argc > 1 ? std::atoi(argv[1]) : 0;
  int max = argc > 2 ? std::atoi(argv[2]) : -1;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t len = sizeof addr;
  if (bind(l, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(l, 1024) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  getsockname(l, reinterpret_cast<sockaddr*>(&addr), &len);
  std::printf("%d\n", ntohs(addr.sin_port));
  std::fflush(stdout);
  std::vector<fiber::thread> conns;
  for (int served = 0; max < 0 || served < max;) {
    int c = accept(l, nullptr, nullptr);
    if (c < 0) {
      if (errno == EINTR) continue;
      std::perror("accept");
      break;
    }
    conns.emplace_back(serve, c);
    ++served;
  }
  for (auto& t : conns) t.join();
  close(l);
  return 0;
}
