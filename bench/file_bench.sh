#!/usr/bin/env bash
# file_bench.sh — the file tables of README ("Files that park only the fiber"): 4 KiB random reads
# at 1 / 16 / 64 / 256 concurrent tasks on ONE worker — fiber::fs, hooked pread on fibers, the same
# count of std::threads, and fio (psync and io_uring engines, same block size, jobs and file) — on a
# file in /dev/shm (tmpfs) and on disk (page cache, and O_DIRECT where the file system allows), on
# each weft backend; then an O_APPEND + fdatasync log with 8 writers. One line per point, ops/s.
#   bash bench/file_bench.sh [build-dir] [seconds] [file-MiB]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build} secs=${2:-2} mib=${3:-256}
fb=$build/bench/file_bench fbh=$build/bench/file_bench_hook
disk=$(mktemp -d "$PWD/$build/file-bench-XXXXXX")
shm=$(mktemp -d /dev/shm/weft-file-bench-XXXXXX)
trap 'rm -rf "$disk" "$shm"' EXIT
for d in "$disk" "$shm"; do dd if=/dev/urandom of="$d/data" bs=1M count="$mib" status=none; done
cat "$disk/data" >/dev/null  # warm the page cache for the cached rows
rate() { sed -n 's/.*ops_per_s=\([0-9.]*\).*/\1/p' | awk '{ printf "%.0f", $1 }'; }
fio_rate() {  # engine file tasks [direct]
  local direct=${4:-0}
  fio --name=r --filename="$2" --rw=randread --bs=4k --ioengine="$1" --numjobs="$3" --direct="$direct" \
    --time_based --runtime="$secs" --group_reporting --output-format=terse --terse-version=3 2>/dev/null |
    awk -F';' '{ printf "%.0f", $8 }'
}
printf '| file | tasks | fs epoll | fs io_uring | hook epoll | hook io_uring | threads | fio psync | fio io_uring |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for where in shm disk direct; do
  file=$disk/data extra="" direct=0
  [[ $where == shm ]] && file=$shm/data
  [[ $where == direct ]] && extra=direct direct=1
  for n in 1 16 64 256; do
    row="| $where | $n |"
    for b in epoll io_uring; do row+=" $(WEFT_IO_BACKEND=$b "$fb" randread fs "$file" "$n" "$secs" $extra | rate) |"; done
    for b in epoll io_uring; do row+=" $(WEFT_IO_BACKEND=$b "$fbh" randread hook "$file" "$n" "$secs" $extra | rate) |"; done
    row+=" $("$fb" randread threads "$file" "$n" "$secs" $extra | rate) |"
    if command -v fio >/dev/null; then
      row+=" $(fio_rate psync "$file" "$n" "$direct") | $(fio_rate io_uring "$file" "$n" "$direct") |"
    else
      row+=" - | - |"
    fi
    echo "$row"
  done
done
echo
printf '| log, 8 writers | fs epoll | fs io_uring | hook epoll | hook io_uring | threads |\n|---|---|---|---|---|---|\n'
row="| O_APPEND + fdatasync |"
for b in epoll io_uring; do row+=" $(WEFT_IO_BACKEND=$b "$fb" log fs "$disk/log" 8 "$secs" | rate) |"; done
for b in epoll io_uring; do row+=" $(WEFT_IO_BACKEND=$b "$fbh" log hook "$disk/log" 8 "$secs" | rate) |"; done
row+=" $("$fb" log threads "$disk/log" 8 "$secs" | rate) |"
echo "$row"
