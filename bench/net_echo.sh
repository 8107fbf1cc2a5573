#!/usr/bin/env bash
# net_echo.sh — TCP echo ping-pong (64-byte messages): weft fiber-per-connection vs
# thread-per-connection vs a hand-written epoll loop vs Go goroutine-per-connection (GOMAXPROCS=1,
# bench/go/echo.go, when Go is installed), one load client (bench/echo_bench --client).
# Each server is pinned to CPU 0 and the client to CPU 1 (taskset), so they never share a core.
#
#   bench/net_echo.sh [path/to/echo_bench] [seconds] [conns...]
#   e.g. bench/net_echo.sh build-net/bench/echo_bench 3 100 1000 10000
#
# WEFT_BACKENDS="epoll io_uring" runs the weft server once per I/O backend (WEFT_IO_BACKEND), shown
# as weft-epoll, weft-io_uring; SERVERS="weft epoll" limits the peers; ROUNDS=n repeats every point
# n times, interleaved, and reports the median (the machine may be shared: ratios within one run).
# msgs/cpu-s is messages per second of the server's own CPU time (utime + stime): the per-message
# cost, which stays comparable when other work takes a share of the server's core.
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

read -r -a SERVERS <<<"${SERVERS:-weft threads epoll go}"
if [[ -n ${WEFT_BACKENDS:-} ]]; then  # weft once per backend, in place of the plain "weft"
  expanded=()
  for s in "${SERVERS[@]}"; do
    if [[ $s == weft ]]; then
      for b in $WEFT_BACKENDS; do expanded+=("weft-$b"); done
    else
      expanded+=("$s")
    fi
  done
  SERVERS=("${expanded[@]}")
fi
GO_ECHO=""
if [[ " ${SERVERS[*]} " == *" go "* ]]; then
  if command -v go >/dev/null 2>&1; then
    GO_ECHO=$(mktemp -d)/go-echo
    GOCACHE=/tmp/weft-go-cache GO111MODULE=off go build -o "$GO_ECHO" "$(dirname "$0")/go/echo.go" || GO_ECHO=""
  fi
  if [[ -z $GO_ECHO ]]; then
    keep=()
    for s in "${SERVERS[@]}"; do [[ $s == go ]] || keep+=("$s"); done
    SERVERS=("${keep[@]}")
  fi
fi
ROUNDS=${ROUNDS:-1}

# One measurement: server name, connections -> "msgs/s p50 p99" (or "fail - -").
measure() {
  local s=$1 c=$2
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
  local cpu0 cpu1
  cpu0=$(cpu_ticks "$SPID")
  out=$(taskset -c "$CLIENT_CPU" "$BIN" --client --port "$PORT" --conns "$c" --seconds "$SECS" || echo "failed")
  cpu1=$(cpu_ticks "$SPID")
  kill "$SPID" 2>/dev/null || true
  wait "$SPID" 2>/dev/null || true
  mps=$(sed -n 's/.*msgs_per_sec=\([0-9]*\).*/\1/p' <<<"$out")
  p50=$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$out")
  p99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$out")
  # Messages per second of server CPU time: what one message costs the server, whatever share of
  # the (possibly shared) core it got.
  local eff=-
  if [[ -n $mps && $cpu1 -gt $cpu0 ]]; then
    eff=$(awk -v m="$mps" -v s="$SECS" -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", m * s / (t / hz) }')
  fi
  echo "${mps:-fail} ${p50:--} ${p99:--} $eff"
}

cpu_ticks() {  # utime + stime of a process, in clock ticks
  awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# The median of ROUNDS measurements, by messages/s (rounds of all servers interleaved).
printf '%-14s %-8s %14s %10s %10s %16s\n' server conns msgs/s p50_us p99_us msgs/cpu-s
for c in "${CONNS[@]}"; do
  declare -A results=()
  for ((r = 0; r < ROUNDS; r++)); do
    for s in "${SERVERS[@]}"; do results[$s]+="$(measure "$s" "$c")"$'\n'; done
  done
  for s in "${SERVERS[@]}"; do
    line=$(printf '%s' "${results[$s]}" | sort -n -k1,1 | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2)')
    read -r mps p50 p99 eff <<<"$line"
    printf '%-14s %-8s %14s %10s %10s %16s\n' "$s" "$c" "$mps" "$p50" "$p99" "$eff"
  done
  unset results
done
