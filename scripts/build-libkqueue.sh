#!/usr/bin/env bash
# Builds libkqueue (the BSD kqueue()/kevent() API on Linux; test-only, not in Debian) from the
# tarball the workplace keeps beside the project, with weft's fix for a lost-event bug
# (scripts/libkqueue-event-batch.patch), into build/third_party/prefix. Prints the prefix.
# The kqueue backend is tested on Linux against it:
#   prefix=$(bash scripts/build-libkqueue.sh)
#   cmake -S . -B build-kqueue -DWEFT_KQUEUE=ON -DCMAKE_PREFIX_PATH="$prefix"
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tarball=$(ls "$root"/../shared/third_party/libkqueue-*.tar.gz 2>/dev/null | head -n1 || true)
prefix=$root/build/third_party/prefix
if [[ -f $prefix/lib/pkgconfig/libkqueue.pc || -f $prefix/lib/x86_64-linux-gnu/pkgconfig/libkqueue.pc ]]; then
  echo "$prefix"
  exit 0
fi
if [[ -z $tarball ]]; then
  echo "build-libkqueue: no libkqueue tarball next to the project (../shared/third_party)" >&2
  exit 1
fi
src=$root/build/third_party
mkdir -p "$src"
rm -rf "$src/libkqueue"
tar -xzf "$tarball" -C "$src"
# libkqueue 2.7.0 loses events when one epoll event becomes two kevents and the caller's list is
# full (edge-triggered: lost for good). Our one-line fix halves its epoll batch; see the patch.
patch -s -p1 -d "$src/libkqueue" < "$root/scripts/libkqueue-event-batch.patch"
cmake -S "$src/libkqueue" -B "$src/libkqueue/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DCMAKE_INSTALL_LIBDIR=lib >/dev/null
cmake --build "$src/libkqueue/build" -j"$(nproc)" >/dev/null
cmake --install "$src/libkqueue/build" >/dev/null
echo "$prefix"
