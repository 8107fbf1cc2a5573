// one_worker.hpp — the single-worker runtime the hook and third-party tests share.
//
// Tests that prove a hooked call parks its fiber, not its worker, run N fibers on ONE worker. The
// runtime is created on first use and never destroyed: descriptors registered with its reactor may
// be closed after a test's fibers are gone, and fibers parked on it may outlive a failing test.
#pragma once

#include <fiber/runtime.hpp>

namespace weft_test {

inline fiber::runtime& one_worker() {
  static auto* rt = new fiber::runtime({.workers = 1});
  return *rt;
}

}  // namespace weft_test
