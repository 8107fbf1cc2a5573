#!/usr/bin/env bash
# Builds and runs the test suite under a sanitizer, with weft's fiber-switch annotations.
#   bash scripts/sanitize.sh address   # ASan + UBSan, built with clang-14
#   bash scripts/sanitize.sh thread    # TSan, built with g++
# Large counts are scaled down (WEFT_SCALE_FIBERS) — the Release run keeps them.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?address or thread}
if [[ $kind == address ]]; then
  # clang builds everything here (benchmarks and examples too): the clang -Werror check of CI.
  dir=build-asan; sanitize="address,undefined"; cxx=clang++-14; cc=clang-14; extra=""
  export ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  dir=build-tsan; sanitize="thread"; cxx=g++; cc=gcc; extra="-DWEFT_BUILD_BENCH=OFF -DWEFT_BUILD_EXAMPLES=OFF"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
fi
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=$cxx -DCMAKE_C_COMPILER=$cc \
  -DWEFT_SANITIZE="$sanitize" -DWEFT_WERROR=ON $extra
cmake --build "$dir" -j"$(nproc)"
# TSan tracks each fiber like a thread and dies past 8128 of them.
export WEFT_SCALE_FIBERS=$([[ $kind == thread ]] && echo 1000 || echo 20000) WEFT_STRESS_SCALE=10
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 900
