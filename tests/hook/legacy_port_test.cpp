// legacy_port_test.cpp — runs examples/legacy_port's two servers (std::thread, and fiber::thread
// with weft::hook) and checks that both echo every message of many concurrent clients, then exit
// after serving them. Client sockets have receive timeouts, so a broken server fails, not hangs.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int clients = 32;
constexpr int rounds = 20;

void check_server(const char* path) {
  std::string cmd = std::string(path) + " 0 " + std::to_string(clients);
  FILE* out = ::popen(cmd.c_str(), "r");
  ASSERT_NE(out, nullptr);
  int port = 0;
  ASSERT_EQ(std::fscanf(out, "%d", &port), 1);
  std::atomic<int> good{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < clients; ++i)
    ts.emplace_back([port, i, &good] {
      int c = socket(AF_INET, SOCK_STREAM, 0);
      timeval tv{5, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(c);
        return;
      }
      bool ok = true;
      for (int r = 0; r < rounds && ok; ++r) {
        std::string msg = "client " + std::to_string(i) + " round " + std::to_string(r);
        ok = write(c, msg.data(), msg.size()) == static_cast<ssize_t>(msg.size());
        std::string got;
        char buf[256];
        while (ok && got.size() < msg.size()) {
          ssize_t n = read(c, buf, sizeof buf);
          if (n <= 0)
            ok = false;
          else
            got.append(buf, static_cast<size_t>(n));
        }
        ok = ok && got == msg;
      }
      if (ok) ++good;
      close(c);
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(good.load(), clients) << path;
  EXPECT_EQ(::pclose(out), 0) << path;
}

}  // namespace

TEST(LegacyPort, ThreadsEchoServer) {
  check_server(WEFT_LEGACY_THREADS);
}
TEST(LegacyPort, FibersEchoServer) {
  check_server(WEFT_LEGACY_FIBERS);
}
