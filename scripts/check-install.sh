#!/usr/bin/env bash
# Installs weft into a scratch prefix and builds tests/consumer against it with find_package, then
# builds the same program with pkg-config. Both must run.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d)
trap 'rm -rf "$prefix" build-consumer' EXIT
cmake -S . -B build-install -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_BENCH=OFF \
  -DWEFT_BUILD_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build build-install -j"$(nproc)" >/dev/null
cmake --install build-install >/dev/null
test -f "$prefix/include/weft/fiber/fiber.hpp"
cmake -S tests/consumer -B build-consumer -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build build-consumer >/dev/null
./build-consumer/consumer
PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig" \
  g++ -O2 tests/consumer/main.cpp -o build-consumer/consumer-pc \
  $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig" pkg-config --cflags --libs weft)
./build-consumer/consumer-pc
echo "install check: find_package(weft) and pkg-config weft both work"
