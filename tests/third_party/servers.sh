#!/usr/bin/env bash
# servers.sh — starts or stops the real servers the third-party client tests talk to, on loopback:
# redis-server (for hiredis) and nginx serving generated files (for libcurl). ctest runs `start` as
# a fixture before those tests and `stop` after them; .ci/run therefore starts them through ctest.
#
#   servers.sh start <dir>   # writes <dir>/servers.env: REDIS_PORT=... HTTP_PORT=...
#   servers.sh stop <dir>
#
# Ports: the first free one from a random base below the ephemeral range (each server is started
# and checked; a port in use makes the server fail and the next one is tried). Both servers run as
# the invoking user with every path (pid, logs, temp, data) inside <dir>; nothing is installed
# system-wide and nothing listens beyond 127.0.0.1.
set -euo pipefail
action=${1:?start or stop}
dir=$(mkdir -p "${2:?directory}" && cd "$2" && pwd)
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}
# Not "NGINX": nginx reads that variable as inherited listening sockets and then will not daemonize.
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}

stop() {
  if [[ -f $dir/nginx.pid ]]; then kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true; fi
  if [[ -f $dir/redis.pid ]]; then kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; fi
  for _ in $(seq 50); do
    alive=0
    for f in nginx.pid redis.pid; do
      [[ -f $dir/$f ]] && kill -0 "$(cat "$dir/$f")" 2>/dev/null && alive=1
    done
    ((alive)) || break
    sleep 0.1
  done
  rm -f "$dir/nginx.pid" "$dir/redis.pid" "$dir/servers.env"
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_listening() {  # port pidfile
  for _ in $(seq 50); do
    listening "$1" && return 0
    sleep 0.1
  done
  return 1
}

start_redis() {
  local port
  for port in $(seq "$1" $(($1 + 20))); do
    listening "$port" && continue
    "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" --maxclients 4096 \
      </dev/null >/dev/null 2>>"$dir/redis.log"
    if wait_listening "$port"; then echo "$port"; return 0; fi
    [[ -f $dir/redis.pid ]] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
  done
  echo "servers.sh: redis-server did not start (see $dir/redis.log)" >&2
  return 1
}

start_nginx() {
  local port
  mkdir -p "$dir/www/slow" "$dir/tmp"
  # data.txt: 256 KiB of the 21-byte line the tests regenerate; slow/data.txt: 64 KiB sent at
  # 128 KiB/s (about half a second per request, so overlapping requests are visible).
  yes "weft-line-0123456789" | head -c 262144 >"$dir/www/data.txt" || true
  yes "weft-line-0123456789" | head -c 65536 >"$dir/www/slow/data.txt" || true
  local user_line=""
  [[ $(id -u) -eq 0 ]] && user_line="user root root;"
  for port in $(seq "$1" $(($1 + 20))); do
    listening "$port" && continue
    cat >"$dir/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  client_body_temp_path $dir/tmp;
  proxy_temp_path $dir/tmp;
  fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp;
  scgi_temp_path $dir/tmp;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:$port;
    root $dir/www;
    location /slow/ { limit_rate 128k; sendfile off; }
  }
}
CONF
    if "$NGINX_BIN" -e "$dir/nginx-error.log" -p "$dir" -c "$dir/nginx.conf" </dev/null >/dev/null 2>>"$dir/nginx-error.log" &&
      wait_listening "$port"; then
      echo "$port"
      return 0
    fi
    [[ -f $dir/nginx.pid ]] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
  done
  echo "servers.sh: nginx did not start (see $dir/nginx-error.log)" >&2
  return 1
}

case $action in
  start)
    stop
    base=$((21000 + RANDOM % 9000))
    redis_port=$(start_redis "$base")
    http_port=$(start_nginx $((base + 40)))
    printf 'REDIS_PORT=%s\nHTTP_PORT=%s\n' "$redis_port" "$http_port" >"$dir/servers.env"
    echo "servers.sh: redis-server on 127.0.0.1:$redis_port, nginx on 127.0.0.1:$http_port"
    ;;
  stop) stop ;;
  *) echo "usage: servers.sh start|stop <dir>" >&2; exit 2 ;;
esac
