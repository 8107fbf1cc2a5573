#!/usr/bin/env bash
# Runs tests/gdb/parked_fibers under gdb with tools/weft-gdb.py: `weft fibers` must list the three
# named parked fibers and `weft bt` must show where one of them waits.
set -euo pipefail
prog=$1 script=$2
out=$(gdb -nx -batch -ex run -ex "source $script" -ex "weft fibers" -ex "python gdb.execute('weft bt ' + str(int(gdb.parse_and_eval('weft_debug_workers[0]->started_->id'))))" -ex kill "$prog" 2>&1)
echo "$out"
for name in alpha beta gamma; do grep -Eq "^[0-9]+ +$name +parked" <<<"$out" || { echo "FAIL: $name not listed as parked"; exit 1; }; done
grep -q "wait_in_distinct_function" <<<"$out" || { echo "FAIL: weft bt did not show the parked frame"; exit 1; }
echo "PASS"
