#!/usr/bin/env bash
# HTTP "hello" with wrk: weft's examples/http_server (one fiber per connection, 1 worker) on each
# I/O backend the build has (WEFT_IO_BACKEND=epoll, =io_uring), against Go net/http (GOMAXPROCS=1)
# and nginx (1 worker process). Servers are pinned to CPU 0 and wrk to CPU 1; prints requests/s per
# connection count and each server's ratio to nginx. ROUNDS=n repeats the table (interleaved runs).
#   bash bench/http_bench.sh [build-dir] [seconds]      (needs wrk, nginx-light, golang-go)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build} secs=${2:-5}
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)"; exit 1; }
ulimit -n 20000 || true
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# weft on epoll at 18080, on io_uring at 18083 (when the build has it and this kernel allows it: a
# server that fell back to epoll says so on stderr, and its column is left out).
WEFT_IO_BACKEND=epoll taskset -c 0 "$build/examples/http_server" 18080 >/dev/null & pids+=($!)
WEFT_IO_BACKEND=io_uring taskset -c 0 "$build/examples/http_server" 18083 >/dev/null 2>"$work/uring.err" & pids+=($!)
if command -v go >/dev/null; then
  GOCACHE=/tmp/weft-go-cache GO111MODULE=off go build -o "$work/go-http" bench/go/http.go
  GOMAXPROCS=1 taskset -c 0 "$work/go-http" 18081 & pids+=($!)
fi
if command -v nginx >/dev/null; then
  mkdir -p "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:18082;
    location / { default_type text/plain; return 200 "Hello, world!\n"; }
  }
}
CONF
  taskset -c 0 nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" & pids+=($!)
fi
sleep 1
if [[ -s "$work/uring.err" ]]; then
  echo "weft io_uring server not used: $(head -1 "$work/uring.err")" >&2
  kill "${pids[1]}" 2>/dev/null || true
fi

rate() {  # port conns -> requests/s (empty if the server is absent)
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || { echo ""; return; }
  taskset -c 1 wrk -t1 -c"$2" -d"${secs}s" "http://127.0.0.1:$1/" 2>/dev/null | awk '/Requests\/sec/ {print $2}'
}

ratio() { [[ -n $1 && -n $2 ]] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }' || echo "-"; }
printf "| connections | weft epoll | weft io_uring | Go net/http | nginx | weft epoll/nginx | weft io_uring/nginx | Go/nginx |\n"
printf "|---|---|---|---|---|---|---|---|\n"
for round in $(seq 1 "${ROUNDS:-1}"); do
  for c in 100 1000; do
    w=$(rate 18080 "$c"); u=$(rate 18083 "$c"); g=$(rate 18081 "$c"); n=$(rate 18082 "$c")
    printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n" "$c" "${w:--}" "${u:--}" "${g:--}" "${n:--}" \
      "$(ratio "$w" "$n")" "$(ratio "$u" "$n")" "$(ratio "$g" "$n")"
  done
done
