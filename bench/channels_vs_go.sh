#!/usr/bin/env bash
# Channel ping-pong and buffered throughput: weft and Boost.Fiber (bench/sync_bench) beside Go
# channels (bench/go/chan.go, GOMAXPROCS=1), all on one core, in one run.
#   bash bench/channels_vs_go.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
taskset -c 0 "$build/bench/sync_bench" --benchmark_filter='channel' --benchmark_min_time=0.3 2>/dev/null | grep -E "channel"
if command -v go >/dev/null 2>&1; then
  bin=$(mktemp -d)/go-chan
  GOCACHE=/tmp/weft-go-cache GO111MODULE=off go build -o "$bin" bench/go/chan.go
  taskset -c 0 "$bin"
else
  echo "Go not installed (apt-get install golang-go): no Go numbers"
fi
