#!/usr/bin/env bash
# echo_syscalls.sh — system calls per echoed message, per server: weft on each I/O backend against
# the hand-written epoll loop (and thread-per-connection), counted by the kernel's syscall
# tracepoints (perf stat -e raw_syscalls:sys_enter plus the calls that matter, one by one) over the
# server's process while bench/echo_bench's client drives C connections. Tracepoint counting costs
# little, so the servers run close to their normal speed.
#   bash bench/echo_syscalls.sh [build-dir] [seconds] [conns...]      (needs perf)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build} secs=${2:-3}
shift $(( $# > 2 ? 2 : $# )) || true
conns=("$@")
[[ ${#conns[@]} -eq 0 ]] && conns=(100 1000)
bin=$build/bench/echo_bench
command -v perf >/dev/null || { echo "perf not installed (apt-get install linux-perf)"; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
read -r -a servers <<<"${SERVERS:-weft-epoll weft-io_uring epoll threads}"
calls=(read write recvfrom sendto readv writev epoll_wait epoll_pwait epoll_pwait2 epoll_ctl io_uring_enter futex)
events="raw_syscalls:sys_enter"
for c in "${calls[@]}"; do events+=",syscalls:sys_enter_$c"; done
port=$((20000 + RANDOM % 10000))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '| server | conns | msgs/s | syscalls/msg |'
for c in "${calls[@]}"; do printf ' %s |' "$c"; done
printf '\n|---|---|---|---|'
for _ in "${calls[@]}"; do printf -- '---|'; done
printf '\n'
for c in "${conns[@]}"; do
  for s in "${servers[@]}"; do
    port=$((port + 1))
    if [[ $s == weft-* ]]; then
      WEFT_IO_BACKEND=${s#weft-} taskset -c 0 "$bin" --server=weft --port "$port" 2>/dev/null &
    else
      taskset -c 0 "$bin" --server="$s" --port "$port" 2>/dev/null &
    fi
    spid=$!
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    # Count from the first message to the last: perf attaches first, the client then runs.
    perf stat -x, -e "$events" -p "$spid" -o "$work/stat" &
    ppid=$!
    sleep 0.3
    out=$(taskset -c 1 "$bin" --client --port "$port" --conns "$c" --seconds "$secs" || echo failed)
    kill -INT "$ppid" 2>/dev/null || true
    wait "$ppid" 2>/dev/null || true
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    mps=$(sed -n 's/.*msgs_per_sec=\([0-9]*\).*/\1/p' <<<"$out")
    [[ -n $mps ]] || { echo "| $s | $c | failed |"; continue; }
    awk -F, -v s="$s" -v c="$c" -v mps="$mps" -v secs="$secs" -v list="${calls[*]}" '
      { n[$3] = $1 }
      END {
        msgs = mps * secs
        printf "| %s | %s | %s | %.2f |", s, c, mps, n["raw_syscalls:sys_enter"] / msgs
        k = split(list, names, " ")
        for (i = 1; i <= k; ++i) printf " %.2f |", n["syscalls:sys_enter_" names[i]] / msgs
        printf "\n"
      }' "$work/stat"
  done
done
