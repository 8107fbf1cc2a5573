#!/usr/bin/env bash
# Runs clang-tidy-14 with the project's profile (.clang-tidy) over weft's own sources (fiber/, sync/,
# net/, hook/, fs/; C++ only: the assembly switch is not C++) and fails on any finding; then checks that every C++ file is clang-format-14 clean.
#   bash scripts/tidy.sh [build-dir]     # a configured build dir (compile_commands.json is made there)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-tidy}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_C_COMPILER=clang-14 -DWEFT_BUILD_BENCH=OFF -DWEFT_BUILD_EXAMPLES=OFF -DWEFT_BUILD_TESTS=OFF >/dev/null
out=$(mktemp)
if ! run-clang-tidy-14 -p "$dir" -j "$(nproc)" -quiet "$PWD/(fiber|sync|net|hook|fs)/.*\.cpp$" >"$out" 2>&1; then
  grep -E "error: |warning: " "$out" | sort -u | head -50
  echo "clang-tidy: findings above (profile: .clang-tidy)"
  exit 1
fi
echo "clang-tidy: no findings"
unformatted=$(git ls-files '*.cpp' '*.hpp' | xargs clang-format-14 --dry-run 2>&1 | grep -oE '^[^:]+\.(cpp|hpp)' | sort -u || true)
if [[ -n $unformatted ]]; then
  echo "clang-format: these files differ from .clang-format:"
  echo "$unformatted"
  exit 1
fi
echo "clang-format: every file is formatted"
