#!/usr/bin/env bash
# README's test command: installs dependencies, builds weft (Release, warnings as errors) and runs
# the whole test suite with ctest, including the 1M-fiber scale tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DWEFT_WERROR=ON
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 600 "$@"
