// lock_order.cpp — the classic lock-order deadlock, for WEFT_DEADLOCK_CHECK and fiber::dump().
//
//   WEFT_DEADLOCK_CHECK=1 ./lock_order     two transfers lock two accounts in opposite order; the
//                                          check names both fibers, both mutexes and where each
//                                          waits, and ends the process (status 2)
//   ./lock_order --dump                    no deadlock: prints a dump of the fibers while they wait
//                                          for each other's results (a join, a channel, a mutex)
#include <fiber/fiber.hpp>
#include <sync/sync.hpp>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <string>

using namespace std::chrono_literals;

namespace {

struct account {
  std::string name;
  fiber::mutex m;
  long balance = 100;
};

// Locks `from`, then `to`: two transfers in opposite directions can each hold one and wait for
// the other (std::scoped_lock(from.m, to.m) would not).
void transfer(account& from, account& to, long amount, fiber::latch& both_hold_one) {
  std::lock_guard a(from.m);
  both_hold_one.arrive_and_wait();  // make the bad interleaving certain
  std::lock_guard b(to.m);
  from.balance -= amount;
  to.balance += amount;
}

int deadlock() {
  account alice, bob;
  alice.name = "alice";
  bob.name = "bob";
  fiber::latch both(2);
  auto t1 = fiber::spawn({.name = "transfer alice->bob"}, [&] { transfer(alice, bob, 10, both); });
  auto t2 = fiber::spawn({.name = "transfer bob->alice"}, [&] { transfer(bob, alice, 20, both); });
  t1.join();
  t2.join();
  std::printf("balances: alice %ld, bob %ld\n", alice.balance, bob.balance);
  return 0;
}

int dump_while_waiting() {
  fiber::mutex ledger;
  fiber::channel<long> results(4);
  fiber::latch go(1);
  auto auditor = fiber::spawn({.name = "auditor"}, [&] {
    std::lock_guard g(ledger);
    go.wait();  // holds the ledger until main says go
  });
  std::this_thread::sleep_for(20ms);
  auto clerk = fiber::spawn({.name = "clerk"}, [&] {
    std::lock_guard g(ledger);  // waits for the auditor
    results.send(42);
  });
  auto reporter = fiber::spawn({.name = "reporter"}, [&] { std::printf("result %ld\n", results.recv().value_or(-1)); });
  auto supervisor = fiber::spawn({.name = "supervisor"}, [&] { reporter.join(); });
  std::this_thread::sleep_for(50ms);
  fiber::dump();
  go.count_down();
  auditor.join();
  clerk.join();
  supervisor.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  fiber::runtime rt({.workers = 2});
  if (argc > 1 && std::strcmp(argv[1], "--dump") == 0) return dump_while_waiting();
  return deadlock();
}
