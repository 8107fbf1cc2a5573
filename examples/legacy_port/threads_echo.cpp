// threads_echo.cpp — a classic thread-per-connection TCP echo server on raw POSIX sockets.
// Its twin fibers_echo.cpp differs only in the thread type's name and the link line.
//   threads_echo [port] [connections-to-serve]   (port 0: any; prints the port; -1: serve forever)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <thread>
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
  std::vector<std::thread> conns;
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
