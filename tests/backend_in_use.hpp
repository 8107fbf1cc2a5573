// backend_in_use.hpp — the I/O backend the tests' runtimes get: WEFT_IO_BACKEND (CI's per-backend
// runs) or the platform default, as a fresh one-worker runtime reports it.
#pragma once

#include <fiber/fiber.hpp>

inline fiber::io_backend backend_in_use() {
  static const fiber::io_backend b = [] {
    fiber::runtime rt({.workers = 1});
    return rt.io_backend();
  }();
  return b;
}
