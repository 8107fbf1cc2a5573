// Built against an installed weft by scripts/check-install.sh: find_package + weft::weft only.
#include <fiber/fiber.hpp>

#include <cstdio>
#include <vector>

int main() {
  std::vector<fiber::join_handle<int>> parts;
  for (int i = 1; i <= 100; ++i) parts.push_back(fiber::spawn([i] { return i; }));
  int sum = 0;
  for (auto& p : parts) sum += p.join();
  std::printf("consumer: sum=%d\n", sum);
  return sum == 5050 ? 0 : 1;
}
