#!/usr/bin/env bash
# backend_ops.sh — the per-operation measurements behind io_uring's completion/readiness choices
# (docs/design.md §7): bench/backend_ops_bench on one worker pinned to one CPU, every configuration
# ROUNDS times interleaved (the machine may be shared), median of operations per CPU-second.
#   bash bench/backend_ops.sh [build-dir] [seconds] [rounds]
# Configurations: epoll; io_uring with its defaults; io_uring with one kind's mode changed
# (WEFT_IO_URING_OPS) — recv/send/accept/connect in readiness, hybrid and completion.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build} secs=${2:-1} rounds=${3:-5}
bin=$build/bench/backend_ops_bench
cpu=${BENCH_CPU:-0}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
configs=(
  "epoll|WEFT_IO_BACKEND=epoll"
  "io_uring defaults|WEFT_IO_BACKEND=io_uring"
  "io_uring every op readiness|WEFT_IO_BACKEND=io_uring WEFT_IO_URING_OPS=all=readiness"
  "io_uring recv=hybrid|WEFT_IO_BACKEND=io_uring WEFT_IO_URING_OPS=recv=hybrid"
  "io_uring recv tries first|WEFT_IO_BACKEND=io_uring WEFT_IO_URING_RECV_TRY_FIRST=1"
  "io_uring send=completion|WEFT_IO_BACKEND=io_uring WEFT_IO_URING_OPS=send=completion"
  "io_uring send=hybrid|WEFT_IO_BACKEND=io_uring WEFT_IO_URING_OPS=send=hybrid"
  "io_uring accept+connect=completion|WEFT_IO_BACKEND=io_uring WEFT_IO_URING_OPS=accept=completion,connect=completion"
  "io_uring accept=hybrid|WEFT_IO_BACKEND=io_uring WEFT_IO_URING_OPS=accept=hybrid"
)
workloads=("pingpong tcp 1" "pingpong tcp 100" "pingpong tcp 1000" "pingpong unix 100" "accept")
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
printf '| configuration |'
for w in "${workloads[@]}"; do printf ' %s |' "$w"; done
printf '\n|---|'
for _ in "${workloads[@]}"; do printf -- '---|'; done
printf '\n'
declare -A res
for ((r = 0; r < rounds; r++)); do
  for c in "${configs[@]}"; do
    label=${c%%|*} envs=${c#*|}
    for w in "${workloads[@]}"; do
      # shellcheck disable=SC2086
      v=$(env $envs taskset -c "$cpu" "$bin" $w "$secs" 2>/dev/null | sed -n 's/.*ops_per_cpu_s=\([0-9]*\).*/\1/p')
      res["$label|$w"]+="${v:-0}"$'\n'
    done
  done
done
for c in "${configs[@]}"; do
  label=${c%%|*}
  printf '| %s |' "$label"
  for w in "${workloads[@]}"; do printf ' %s |' "$(printf '%s' "${res["$label|$w"]}" | median)"; done
  printf '\n'
done
