#!/usr/bin/env bash
# legacy_echo.sh — the legacy thread-per-connection echo server (examples/legacy_port) on
# std::thread vs the same source on fiber::thread with weft::hook, plus weft's native fiber::net
# echo server (echo_bench --server=weft) to show what the hook layer costs. One load client
# (echo_bench --client, 64-byte ping-pong per connection); server pinned to CPU 0, client to CPU 1.
# Reports messages/s, p50/p99 latency and the server's peak RSS while serving. Counting starts after
# WARMUP seconds (default 2) of traffic, so connection set-up and first accepts are not measured.
# Each point is the median of REPEAT (default 3) interleaved rounds.
#
#   [WARMUP=2] [REPEAT=3] bench/legacy_echo.sh [build-dir] [seconds] [conns...]
#   e.g. bench/legacy_echo.sh build 3 100 1000 10000
set -euo pipefail
BUILD=${1:-build}
SECS=${2:-3}
shift $(( $# > 2 ? 2 : $# )) || true
CONNS=("$@")
[ ${#CONNS[@]} -eq 0 ] && CONNS=(100 1000 10000)
find_bin() {
  local f
  f=$(find "$BUILD" -name "$1" -type f -perm -u+x | head -1)
  [[ -n $f ]] || { echo "legacy_echo.sh: $1 not found under $BUILD (build it first)" >&2; exit 1; }
  echo "$f"
}
ECHO_BENCH=$(find_bin echo_bench)
THREADS_ECHO=$(find_bin legacy_threads_echo)
FIBERS_ECHO=$(find_bin legacy_fibers_echo)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
PORT=$((20000 + RANDOM % 10000))
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Prints "msgs p50 p99 peak_rss_kib" for one server (threads|fibers|native) at one connection count.
# The legacy servers take the port as argv[1] and -1 (serve forever) as argv[2].
run_one() {
  local conns=$1 kind=$2 cmd
  PORT=$((PORT + 1))
  case $kind in
    threads) cmd=("$THREADS_ECHO" "$PORT" -1) ;;
    fibers) cmd=("$FIBERS_ECHO" "$PORT" -1) ;;
    native) cmd=("$ECHO_BENCH" --server=weft --port "$PORT") ;;
  esac
  taskset -c "$SERVER_CPU" "${cmd[@]}" >/dev/null 2>>"${SERVER_LOG:-/dev/null}" &
  local spid=$!
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
  done
  local outf peak=0 r
  outf=$(mktemp)
  taskset -c "$CLIENT_CPU" "$ECHO_BENCH" --client --port "$PORT" --conns "$conns" --seconds "$SECS" --warmup "${WARMUP:-2}" >"$outf" 2>&1 &
  local cpid=$!
  while kill -0 "$cpid" 2>/dev/null; do
    r=$(rss_kib "$spid")
    ((r > peak)) && peak=$r
    sleep 0.2
  done
  wait "$cpid" || true
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  local out
  out=$(cat "$outf")
  rm -f "$outf"
  local mps p50 p99
  mps=$(sed -n 's/.*msgs_per_sec=\([0-9]*\).*/\1/p' <<<"$out")
  p50=$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$out")
  p99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$out")
  echo "${mps:-0} ${p50:--} ${p99:--} $peak"
}

printf '%-22s %7s %10s %9s %10s %9s %12s %12s\n' server conns msgs/s p50_us p99_us rss_MiB hook/threads hook/native
for c in "${CONNS[@]}"; do
  # REPEAT rounds, servers interleaved within each round (so a noisy moment hits all three); each
  # server's row is its median-throughput round.
  declare -A runs=()
  for _ in $(seq "${REPEAT:-3}"); do
    for s in threads fibers native; do
      runs[$s]+="$(run_one "$c" "$s")"$'\n'
    done
  done
  declare -A mps=()
  for s in threads fibers native; do
    n=$(grep -c . <<<"${runs[$s]}")
    read -r m p50 p99 rss < <(grep . <<<"${runs[$s]}" | sort -n -k1,1 | sed -n "$(( (n + 1) / 2 ))p")
    mps[$s]=$m
    case $s in
      threads) label="legacy std::thread" ;;
      fibers) label="legacy fiber+hooks" ;;
      native) label="native fiber::net" ;;
    esac
    ratio_t="" ratio_n=""
    if [[ $s == native && ${mps[fibers]} -gt 0 && ${mps[threads]} -gt 0 && $m -gt 0 ]]; then
      ratio_t=$(awk -v a="${mps[fibers]}" -v b="${mps[threads]}" 'BEGIN{printf "%.2fx", a/b}')
      ratio_n=$(awk -v a="${mps[fibers]}" -v b="$m" 'BEGIN{printf "%.2fx", a/b}')
    fi
    printf '%-22s %7s %10s %9s %10s %9s %12s %12s\n' "$label" "$c" "$m" "$p50" "$p99" \
      "$(awk -v k="$rss" 'BEGIN{printf "%.1f", k/1024}')" "$ratio_t" "$ratio_n"
  done
  unset runs mps
done
