#!/usr/bin/env bash
# Runs the fiber, sync and net suites (and, where the backend can serve them, the hook suite) on one
# I/O backend by name, in a Release build of its own:
#   bash scripts/test-backend.sh kqueue     # -DWEFT_KQUEUE=ON against libkqueue (built from ../shared)
#   bash scripts/test-backend.sh io_uring   # the default build (build/, README's flags), by name
#   bash scripts/test-backend.sh epoll      # the default build's backend, selected by name
# epoll and io_uring reuse build/ with exactly the flags of scripts/test.sh, so that a later
# `bash scripts/test.sh` builds nothing again; kqueue needs a build of its own.
# WEFT_IO_BACKEND wins over every runtime's option, so every runtime of every test uses it.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:?backend: epoll, kqueue or io_uring}
flags=(-DCMAKE_BUILD_TYPE=Release -DWEFT_WERROR=ON)
case $backend in
  kqueue)
    flags+=(-DWEFT_BUILD_BENCH=OFF -DWEFT_BUILD_EXAMPLES=OFF -DWEFT_KQUEUE=ON
            "-DCMAKE_PREFIX_PATH=$(bash scripts/build-libkqueue.sh)")
    labels="fiber|sync|net|fs" dir=build-kqueue ;;
  io_uring) flags+=(-DWEFT_IO_URING=ON) labels="fiber|sync|net|fs|hook" dir=build ;;
  epoll) labels="fiber|sync|net|fs|hook" dir=build ;;
  *) echo "test-backend: unknown backend $backend" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
WEFT_IO_BACKEND=$backend ctest --test-dir "$dir" -L "$labels" --output-on-failure -j"$(nproc)" --timeout 600
