// fiber::select: ready cases, fairness among ready cases, timeout, default, send cases, close,
// and a stress where selects race with each other and with plain channel ops.
#include <sync/channel.hpp>
#include <sync/select.hpp>

#include <fiber/fiber.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST(Select, PicksTheReadyCase) {
  fiber::channel<int> a(1), b(1);
  b.send(5);
  int got = 0;
  auto idx = fiber::select(fiber::on_recv(a, [&](std::optional<int> v) { got = v.value_or(-1); }),
                           fiber::on_recv(b, [&](std::optional<int> v) { got = v.value_or(-1); }));
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(got, 5);
}

TEST(Select, FairAmongReadyCases) {
  fiber::channel<int> a(1000), b(1000);
  for (int i = 0; i < 1000; ++i) {
    a.send(i);
    b.send(i);
  }
  int from_a = 0, from_b = 0;
  for (int i = 0; i < 1000; ++i)
    fiber::select(fiber::on_recv(a, [&](std::optional<int>) { ++from_a; }),
                  fiber::on_recv(b, [&](std::optional<int>) { ++from_b; }));
  EXPECT_EQ(from_a + from_b, 1000);
  EXPECT_GT(from_a, 300) << "select starves its first case";
  EXPECT_GT(from_b, 300) << "select starves its second case";
}

TEST(Select, DefaultWhenNothingReady) {
  fiber::channel<int> a, b(1);
  b.send(1);  // b is full: a send case on it is not ready
  bool dflt = false;
  auto idx = fiber::select(fiber::on_recv(a), fiber::on_send(b, 2), fiber::on_default([&] { dflt = true; }));
  EXPECT_EQ(idx, 2u);
  EXPECT_TRUE(dflt);
  EXPECT_EQ(b.try_recv(), 1);
  EXPECT_FALSE(b.try_recv()) << "the send case that did not fire must not have sent";
}

TEST(Select, TimeoutFiresAndNothingHappens) {
  fiber::channel<int> a;
  auto t0 = std::chrono::steady_clock::now();
  auto idx = fiber::run([&] { return fiber::select(fiber::on_recv(a), fiber::on_timeout(20ms)); });
  EXPECT_EQ(idx, 1u);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
  // From an OS thread, and a timeout with no channel cases at all.
  EXPECT_EQ(fiber::select(fiber::on_send(a, 1), fiber::on_timeout(5ms)), 1u);
  EXPECT_EQ(fiber::select(fiber::on_timeout(1ms)), 0u);
  EXPECT_FALSE(a.try_recv());
}

TEST(Select, WakesOnSendFromAnotherFiberOrThread) {
  fiber::channel<int> a, b;
  std::thread t([&] {
    std::this_thread::sleep_for(10ms);
    b.send(7);
  });
  int got = 0;
  auto idx = fiber::run([&] {
    return fiber::select(fiber::on_recv(a, [&](std::optional<int> v) { got = *v; }),
                         fiber::on_recv(b, [&](std::optional<int> v) { got = *v; }), fiber::on_timeout(5s));
  });
  t.join();
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(got, 7);
}

TEST(Select, SendCaseDeliversToParkedReceiver) {
  fiber::channel<int> out;
  auto r = fiber::spawn([&] { return out.recv(); });
  std::this_thread::sleep_for(5ms);
  bool sent = false;
  EXPECT_EQ(fiber::select(fiber::on_send(out, 11, [&] { sent = true; }), fiber::on_timeout(5s)), 0u);
  EXPECT_TRUE(sent);
  EXPECT_EQ(r.join(), 11);
}

TEST(Select, ClosedChannels) {
  fiber::channel<int> a;
  std::optional<int> got = 1;
  auto f = fiber::spawn([&] { return fiber::select(fiber::on_recv(a, [&](std::optional<int> v) { got = v; })); });
  std::this_thread::sleep_for(5ms);
  a.close();
  EXPECT_EQ(f.join(), 0u);
  EXPECT_FALSE(got.has_value()) << "recv case on a closed channel fires with an empty optional";
  EXPECT_THROW(fiber::select(fiber::on_send(a, 1)), fiber::channel_closed);
}

TEST(Select, StressSelectsAgainstSelectsAndPlainOps) {
  // Producers select-send onto two channels; consumers select-receive from both (and a plain
  // receiver on one). Every value arrives exactly once.
  fiber::channel<int> a, b(4);
  constexpr int producers = 8, per = 1000, total = producers * per;
  std::vector<std::atomic<int>> seen(total);
  std::vector<fiber::join_handle<void>> ps;
  for (int p = 0; p < producers; ++p)
    ps.push_back(fiber::spawn([&, p] {
      for (int i = 0; i < per; ++i) {
        int v = p * per + i;
        fiber::select(fiber::on_send(a, v), fiber::on_send(b, v));
      }
    }));
  std::atomic<int> received{0};
  std::atomic<bool> stop{false};
  auto consume_select = [&] {
    while (!stop) {
      fiber::select(fiber::on_recv(a,
                                   [&](std::optional<int> v) {
                                     if (v) {
                                       seen[*v].fetch_add(1);
                                       ++received;
                                     }
                                   }),
                    fiber::on_recv(b,
                                   [&](std::optional<int> v) {
                                     if (v) {
                                       seen[*v].fetch_add(1);
                                       ++received;
                                     }
                                   }),
                    fiber::on_timeout(2ms));
    }
  };
  std::vector<fiber::join_handle<void>> cs;
  for (int c = 0; c < 4; ++c) cs.push_back(fiber::spawn(consume_select));
  std::thread tc(consume_select);
  auto plain = fiber::spawn([&] {
    while (!stop)
      if (auto v = a.recv_for(1ms)) {
        seen[*v].fetch_add(1);
        ++received;
      }
  });
  for (auto& p : ps) p.join();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (received.load() < total && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  stop = true;
  for (auto& c : cs) c.join();
  tc.join();
  plain.join();
  EXPECT_EQ(received.load(), total);
  int bad = 0;
  for (auto& s : seen) bad += s.load() != 1;
  EXPECT_EQ(bad, 0);
}
