#!/usr/bin/env bash
# skynet.sh — skynet 1M in a fresh process per run (bench/skynet.cpp, through fiber::run), with
# WEFT_WORKERS=1 and =2 interleaved, ROUNDS times; prints each run and the median of each with the
# speed-up of 2 workers over 1 (the target: >= 1.7x).
#
#   bash bench/skynet.sh [build-dir] [rounds]      # e.g. bash bench/skynet.sh build 5
set -euo pipefail
build=${1:-build}
rounds=${2:-5}
bin="$build/bench/skynet"
[ -x "$bin" ] || { echo "skynet.sh: $bin not found (cmake --build $build --target skynet)" >&2; exit 1; }
one=() two=()
for ((r = 1; r <= rounds; r++)); do
  for w in 1 2; do
    line=$(WEFT_WORKERS=$w "$bin")
    echo "round $r: $line"
    ms=${line##*ms=}
    if [ "$w" = 1 ]; then one+=("$ms"); else two+=("$ms"); fi
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
m1=$(median "${one[@]}")
m2=$(median "${two[@]}")
awk -v a="$m1" -v b="$m2" 'BEGIN {printf "median: 1 worker %.1f ms, 2 workers %.1f ms: %.2fx\n", a, b, a / b}'
