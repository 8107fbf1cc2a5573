#!/usr/bin/env bash
# net_echo.sh — TCP echo ping-pong (64-byte messages): weft fiber-per-connection vs
# thread-per-connection vs a hand-written epoll loop vs Go goroutine-per-connection (GOMAXPROCS=1,
# bench/go/echo.go, when Go is installed), one load client (bench/echo_bench --client).
# Each server is pinned to CPU 0 and the client to CPU 1 (taskset), so they never share a core.
#
#   bench/net_echo.sh [path/to/echo_bench] [seconds] [conns...]
#   e.g. bench/net_echo.sh build-net/bench/echo_bench 3 100 1000 10000
set -euo pipefail
BIN=${1:-build/bench/echo_bench}
SECS=${2:-3}
shift $(( $# > 2 ? 2 : $# )) || true
CONNS=("$@")
[ ${#CONNS[@]} -eq 0 ] && CONNS=(100 1000)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# Below the ephemeral range (32768+), so no client socket can already hold the port.
PORT=$((20000 + RANDOM % 10000))
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

# WEFT_BACKENDS="epoll kqueue" runs the weft server once per I/O backend (WEFT_IO_BACKEND), labelled
# weft-<backend>, beside the other servers.
SERVERS=(weft threads epoll)
if [[ -n ${WEFT_BACKENDS:-} ]]; then
  SERVERS=()
  for b in $WEFT_BACKENDS; do SERVERS+=("weft-$b"); done
  SERVERS+=(epoll)
fi
GO_ECHO=""
if [[ -z ${WEFT_BACKENDS:-} ]] && command -v go >/dev/null 2>&1; then
  GO_ECHO=$(mktemp -d)/go-echo
  GOCACHE=/tmp/weft-go-cache GO111MODULE=off go build -o "$GO_ECHO" "$(dirname "$0")/go/echo.go" && SERVERS+=(go)
fi

printf '%-8s %-8s %14s %10s %10s\n' server conns msgs/s p50_us p99_us
for c in "${CONNS[@]}"; do
  for s in "${SERVERS[@]}"; do
    PORT=$((PORT + 1))
    if [[ $s == go ]]; then
      GOMAXPROCS=1 taskset -c "$SERVER_CPU" "$GO_ECHO" "$PORT" 2>>"${SERVER_LOG:-/dev/null}" &
    elif [[ $s == weft-* ]]; then
      WEFT_IO_BACKEND=${s#weft-} taskset -c "$SERVER_CPU" "$BIN" --server=weft --port "$PORT" 2>>"${SERVER_LOG:-/dev/null}" &
    else
      taskset -c "$SERVER_CPU" "$BIN" --server="$s" --port "$PORT" 2>>"${SERVER_LOG:-/dev/null}" &
    fi
    SPID=$!
    for _ in $(seq 50); do
      (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
      sleep 0.1
    done
    out=$(taskset -c "$CLIENT_CPU" "$BIN" --client --port "$PORT" --conns "$c" --seconds "$SECS" || echo "failed")
    kill "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    mps=$(sed -n 's/.*msgs_per_sec=\([0-9]*\).*/\1/p' <<<"$out")
    p50=$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$out")
    p99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$out")
    printf '%-8s %-8s %14s %10s %10s\n' "$s" "$c" "${mps:-fail}" "${p50:--}" "${p99:--}"
  done
done
