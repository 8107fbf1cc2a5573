// hiredis_test.cpp — hiredis (Debian's libhiredis, unmodified, blocking API) on many fibers against
// a real redis-server on loopback, through weft::hook.
//
// hiredis connects, writes and reads with plain blocking socket calls (and getaddrinfo for the host
// name): every one of them must park the calling fiber, not its worker. Proof of overlap is
// behavioural, not a speed bound: N fibers on ONE worker each block in BLPOP on their own key; the
// test fiber then sees, through its own connection, that redis counts all N as blocked clients at
// once — impossible unless each BLPOP parked only its fiber — and only then pushes the values.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <fiber/fiber.hpp>
#include <memory>
#include <string>
#include <vector>

#include "servers_env.hpp"
#include "../one_worker.hpp"

using weft_test::one_worker;

using namespace std::chrono_literals;

namespace {

struct context_deleter {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
};
using context_ptr = std::unique_ptr<redisContext, context_deleter>;

struct reply_deleter {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

context_ptr connect_redis(const char* host = "127.0.0.1") {
  int port = weft_test::server_port("REDIS_PORT");
  timeval tv{10, 0};
  context_ptr c(redisConnectWithTimeout(host, port, tv));
  if (!c || c->err) {
    ADD_FAILURE() << "redisConnect " << host << ":" << port << ": " << (c ? c->errstr : "no context");
    return nullptr;
  }
  return c;
}

template <class... Args>
reply_ptr command(redisContext* c, const char* fmt, Args... args) {
  reply_ptr r(static_cast<redisReply*>(redisCommand(c, fmt, args...)));
  if (!r) ADD_FAILURE() << "redisCommand '" << fmt << "' failed: " << c->errstr;
  return r;
}

long long blocked_clients(redisContext* c) {
  auto r = command(c, "INFO clients");
  if (!r || r->type != REDIS_REPLY_STRING) return -1;
  std::string info(r->str, r->len);
  auto at = info.find("blocked_clients:");
  if (at == std::string::npos) return -1;
  return std::stoll(info.substr(at + 16));
}

#if defined(__SANITIZE_THREAD__)
constexpr bool under_tsan = true;
#else
constexpr bool under_tsan = false;
#endif

}  // namespace

// 200 fibers on the default runtime (every worker), each with its own connection: SET/GET of its own
// key, INCR of a shared counter, a list round trip. Every reply is checked; the counter ends exact.
TEST(Hiredis, ManyFibersEachGetTheirOwnReplies) {
  constexpr int fibers = 200, rounds = 20;
  auto admin = connect_redis();
  ASSERT_TRUE(admin);
  command(admin.get(), "DEL weft:counter");
  std::atomic<int> ok{0};
  fiber::run([&] {
    std::vector<fiber::join_handle<void>> hs;
    for (int i = 0; i < fibers; ++i) {
      hs.push_back(fiber::spawn([&ok, i] {
        // Half resolve "localhost" (hooked getaddrinfo inside hiredis), half use the address.
        // Under TSan only the address: TSan's own getaddrinfo interceptor cannot be parked across
        // (see the conformance suite); Release and ASan cover the name.
        auto c = connect_redis(i % 2 && !under_tsan ? "localhost" : "127.0.0.1");
        if (!c) return;
        bool good = true;
        for (int r = 0; r < rounds; ++r) {
          std::string key = "weft:key:" + std::to_string(i);
          std::string value = "value-" + std::to_string(i) + "-" + std::to_string(r);
          auto set = command(c.get(), "SET %s %s", key.c_str(), value.c_str());
          good &= set && set->type == REDIS_REPLY_STATUS && std::string(set->str) == "OK";
          auto get = command(c.get(), "GET %s", key.c_str());
          good &= get && get->type == REDIS_REPLY_STRING && std::string(get->str, get->len) == value;
          auto incr = command(c.get(), "INCR weft:counter");
          good &= incr && incr->type == REDIS_REPLY_INTEGER && incr->integer >= 1;
        }
        std::string list = "weft:list:" + std::to_string(i);
        command(c.get(), "DEL %s", list.c_str());
        for (int r = 0; r < 5; ++r) command(c.get(), "RPUSH %s %d", list.c_str(), r * i);
        auto range = command(c.get(), "LRANGE %s 0 -1", list.c_str());
        good &= range && range->type == REDIS_REPLY_ARRAY && range->elements == 5;
        for (size_t r = 0; good && r < 5; ++r)
          good &= std::string(range->element[r]->str) == std::to_string(static_cast<int>(r) * i);
        if (good) ok.fetch_add(1);
      }));
    }
    for (auto& h : hs) h.join();
  });
  EXPECT_EQ(ok.load(), fibers);
  auto total = command(admin.get(), "GET weft:counter");
  ASSERT_TRUE(total && total->type == REDIS_REPLY_STRING);
  EXPECT_EQ(std::stoll(total->str), static_cast<long long>(fibers) * rounds);
}

// N fibers on one worker block in BLPOP at the same time; each receives exactly the value pushed to
// its own key. If a blocking read held the worker, the second BLPOP (and the test fiber that counts
// and pushes) could not run until the first timed out, and the values would never arrive.
TEST(Hiredis, BlockingCommandsOverlapOnOneWorker) {
  constexpr int fibers = 64;
  auto& rt = one_worker();
  auto t0 = std::chrono::steady_clock::now();
  int received = rt.run([&] {
    auto admin = connect_redis();
    if (!admin) return -1;
    for (int i = 0; i < fibers; ++i) command(admin.get(), "DEL weft:queue:%d", i);
    long long before = blocked_clients(admin.get());
    std::atomic<int> got{0};
    std::vector<fiber::join_handle<void>> hs;
    for (int i = 0; i < fibers; ++i) {
      hs.push_back(fiber::spawn([&got, i] {
        auto c = connect_redis();
        if (!c) return;
        auto r = command(c.get(), "BLPOP weft:queue:%d 30", i);
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            std::string(r->element[1]->str) == "item-" + std::to_string(i))
          got.fetch_add(1);
        else
          ADD_FAILURE() << "fiber " << i << ": BLPOP returned " << (r ? r->type : -1);
      }));
    }
    // All N parked in BLPOP together, seen from the server's side.
    auto until = std::chrono::steady_clock::now() + 20s;
    long long blocked = 0;
    while ((blocked = blocked_clients(admin.get()) - before) < fibers && std::chrono::steady_clock::now() < until)
      fiber::this_fiber::sleep_for(5ms);
    EXPECT_EQ(blocked, fibers) << "redis did not see every fiber blocked at once";
    for (int i = 0; i < fibers; ++i) command(admin.get(), "RPUSH weft:queue:%d item-%d", i, i);
    for (auto& h : hs) h.join();
    return got.load();
  });
  EXPECT_EQ(received, fibers);
  // Loose sanity bound only (each BLPOP would otherwise wait out its 30 s timeout).
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 25s);
}

// A refused connection is reported by hiredis as an error, not a hang (connect on a fiber keeps
// POSIX semantics: ECONNREFUSED).
TEST(Hiredis, RefusedConnectionIsAnError) {
  fiber::run([] {
    int port = weft_test::server_port("REDIS_PORT");
    // The port just below the server's is free in practice; find one nothing listens on.
    for (int p = port + 1000; p < port + 1010; ++p) {
      timeval tv{5, 0};
      context_ptr c(redisConnectWithTimeout("127.0.0.1", p, tv));
      ASSERT_TRUE(c);
      if (c->err) {
        EXPECT_EQ(c->err, REDIS_ERR_IO);
        EXPECT_NE(std::string(c->errstr).find("refused"), std::string::npos) << c->errstr;
        return;
      }
    }
    ADD_FAILURE() << "every probed port had a listener";
  });
}
