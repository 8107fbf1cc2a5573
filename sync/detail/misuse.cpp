// misuse.cpp — misuse reports of sync/ types (see misuse.hpp).
#include <sync/detail/misuse.hpp>

#include <fiber/detail/park.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace fiber::detail {

namespace {

bool abort_on_misuse() noexcept {
  static const bool yes = [] {
    const char* e = std::getenv("WEFT_MISUSE_ABORT");
    return e && *e && *e != '0';
  }();
  return yes;
}

// Kinds already reported, by the address of their message (each `what` is a string literal).
constexpr int remembered_kinds = 64;
std::atomic<const char*> reported[remembered_kinds];

bool first_report(const char* what) noexcept {
  for (auto& slot : reported) {
    const char* seen = slot.load(std::memory_order_acquire);
    if (seen == what) return false;
    if (seen == nullptr) {
      if (slot.compare_exchange_strong(seen, what, std::memory_order_acq_rel)) return true;
      if (seen == what) return false;
    }
  }
  return true;  // table full: report again rather than stay silent
}

void print(const char* type, const char* what) noexcept {
  std::fprintf(stderr, "weft: misuse of fiber::%s: %s (caller: %s)\n", type, what, current_name_for_diagnostics());
  std::fflush(stderr);
}

}  // namespace

void report_misuse(const char* type, const char* what) noexcept {
  if (abort_on_misuse()) fatal_misuse(type, what);
  if (first_report(what)) print(type, what);
}

void fatal_misuse(const char* type, const char* what) noexcept {
  print(type, what);
  std::abort();
}

}  // namespace fiber::detail
