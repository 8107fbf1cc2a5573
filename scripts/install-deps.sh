#!/usr/bin/env bash
# Installs everything weft needs to build, test and benchmark on a fresh Debian machine (libunwind8
# and libdw1 serve fiber::dump's backtraces at run time; clang-tidy/clang-format serve scripts/tidy.sh).
#   bash scripts/install-deps.sh           # build + test dependencies
#   bash scripts/install-deps.sh --demo    # also the peers and plotting used by the headline demo
set -euo pipefail
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
packages=(build-essential cmake g++ clang-14 pkg-config ca-certificates gdb patch
  libboost-context-dev libboost-fiber-dev libmimalloc-dev libc-ares-dev libgtest-dev libbenchmark-dev
  libhiredis-dev libcurl4-openssl-dev redis-server nginx liburing-dev
  libunwind8 libdw1 clang-tidy-14 clang-format-14)
if [[ ${1:-} == --demo ]]; then
  packages+=(golang-go gnuplot-nox procps fio wrk)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}"
fi
