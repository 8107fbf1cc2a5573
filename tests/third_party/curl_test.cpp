// curl_test.cpp — libcurl's easy interface (Debian's libcurl, unmodified) on many fibers against a
// real nginx on loopback, through weft::hook.
//
// curl_easy_perform connects non-blocking, waits in poll() and reads/writes itself: all hooked. The
// served files are regenerated here byte for byte, so every body is checked exactly. Overlap: on ONE
// worker, N fibers fetch a file nginx sends at a limited rate (~0.5 s each); run one after another
// they would take N times one transfer — concurrently they take about one.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fiber/fiber.hpp>
#include <string>
#include <vector>

#include "servers_env.hpp"
#include "../one_worker.hpp"

using weft_test::one_worker;

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

// What servers.sh serves: the line below repeated, cut at `size` bytes.
std::string expected_body(std::size_t size) {
  const std::string line = "weft-line-0123456789\n";
  std::string s;
  while (s.size() < size) s += line;
  s.resize(size);
  return s;
}

size_t append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct response {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
};

response get(CURL* h, const std::string& url) {
  response r;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
  r.code = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

std::string base_url() {
  return "http://127.0.0.1:" + std::to_string(weft_test::server_port("HTTP_PORT"));
}

class Curl : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK); }
  static void TearDownTestSuite() { curl_global_cleanup(); }
};

}  // namespace

// 64 fibers on every worker, each reusing one easy handle (keep-alive) for 8 GETs of 256 KiB:
// status 200 and the exact body every time.
TEST_F(Curl, ManyFibersFetchExactBodies) {
  constexpr int fibers = 64, rounds = 8;
  const std::string url = base_url() + "/data.txt";
  const std::string want = expected_body(262144);
  std::atomic<int> ok{0};
  fiber::run([&] {
    std::vector<fiber::join_handle<void>> hs;
    for (int i = 0; i < fibers; ++i) {
      hs.push_back(fiber::spawn([&] {
        CURL* h = curl_easy_init();
        bool good = h != nullptr;
        for (int r = 0; good && r < rounds; ++r) {
          auto res = get(h, url);
          good = res.code == CURLE_OK && res.status == 200 && res.body == want;
          if (!good)
            ADD_FAILURE() << "GET " << url << ": " << curl_easy_strerror(res.code) << ", status " << res.status << ", "
                          << res.body.size() << " bytes";
        }
        curl_easy_cleanup(h);
        if (good) ok.fetch_add(1);
      }));
    }
    for (auto& h : hs) h.join();
  });
  EXPECT_EQ(ok.load(), fibers);
}

// N rate-limited transfers on one worker overlap: the total stays far below N times one transfer
// (measured in the same run), and every body is exact.
TEST_F(Curl, SlowTransfersOverlapOnOneWorker) {
  constexpr int fibers = 16;
  const std::string url = base_url() + "/slow/data.txt";
  const std::string want = expected_body(65536);
  auto& rt = one_worker();
  auto one = rt.run([&] {
    CURL* h = curl_easy_init();
    auto t0 = steady::now();
    auto res = get(h, url);
    auto took = steady::now() - t0;
    curl_easy_cleanup(h);
    EXPECT_EQ(res.code, CURLE_OK);
    EXPECT_EQ(res.body, want);
    return took;
  });
  std::atomic<int> ok{0};
  auto t0 = steady::now();
  rt.run([&] {
    std::vector<fiber::join_handle<void>> hs;
    for (int i = 0; i < fibers; ++i) {
      hs.push_back(fiber::spawn([&] {
        CURL* h = curl_easy_init();
        auto res = get(h, url);
        curl_easy_cleanup(h);
        if (res.code == CURLE_OK && res.status == 200 && res.body == want) ok.fetch_add(1);
      }));
    }
    for (auto& h : hs) h.join();
  });
  auto all = steady::now() - t0;
  EXPECT_EQ(ok.load(), fibers);
  // Serialized, the N transfers would take N * one; require less than a quarter of that.
  EXPECT_LT(all, one * fibers / 4) << "one transfer "
                                   << std::chrono::duration_cast<std::chrono::milliseconds>(one).count() << " ms, "
                                   << fibers << " concurrent took "
                                   << std::chrono::duration_cast<std::chrono::milliseconds>(all).count() << " ms";
}

// Errors come back as curl's codes: 404 as a status, a refused port as CURLE_COULDNT_CONNECT.
TEST_F(Curl, ErrorsAreReported) {
  fiber::run([] {
    CURL* h = curl_easy_init();
    auto missing = get(h, base_url() + "/no-such-file");
    EXPECT_EQ(missing.code, CURLE_OK);
    EXPECT_EQ(missing.status, 404);
    curl_easy_cleanup(h);
    int port = weft_test::server_port("HTTP_PORT");
    bool refused = false;
    for (int p = port + 1000; !refused && p < port + 1010; ++p) {
      CURL* r = curl_easy_init();
      auto res = get(r, "http://127.0.0.1:" + std::to_string(p) + "/");
      curl_easy_cleanup(r);
      refused = res.code == CURLE_COULDNT_CONNECT;
    }
    EXPECT_TRUE(refused);
  });
}
