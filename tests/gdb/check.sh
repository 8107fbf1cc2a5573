#!/usr/bin/env bash
# Runs tests/gdb/parked_fibers under gdb with tools/weft-gdb.py: `weft fibers` must list the named
# parked fibers with their wait reasons and `weft bt` must show where one of them waits — on the live
# process, then again on a core file of it (gcore).
set -euo pipefail
prog=$1 script=$2
core=$(mktemp -u /tmp/weft-gdb-core.XXXXXX)
trap 'rm -f "$core"' EXIT
first_bt="python [gdb.execute('weft bt %d' % int(f['id'])) for w, f in _fibers() if _name(f) == 'alpha']"
check() {
  local out=$1 what=$2
  for name in alpha beta gamma holder; do grep -Eq "^[0-9]+ +$name +parked" <<<"$out" || { echo "FAIL ($what): $name not listed as parked"; exit 1; }; done
  grep -Eq "^[0-9]+ +locker +parked .*mutex 0x[0-9a-f]+ held by fiber [0-9]+ 'holder'" <<<"$out" || { echo "FAIL ($what): the mutex wait and its holder are not shown"; exit 1; }
  grep -q "wait_in_distinct_function" <<<"$out" || { echo "FAIL ($what): weft bt did not show the parked frame"; exit 1; }
}
out=$(gdb -nx -batch -ex run -ex "source $script" -ex "weft fibers" -ex "weft threads" -ex "$first_bt" -ex "gcore $core" -ex kill "$prog" 2>&1)
echo "$out"
check "$out" live
grep -Eq "^thread [0-9]+: waiting for join of fiber" <<<"$out" || { echo "FAIL: weft threads did not show main joining"; exit 1; }
# A core file written by gdb's gcore: gcore reads memory in 1 MiB chunks and drops every chunk that
# holds a guard region (MADV_GUARD_INSTALL, Linux >= 6.13), i.e. all fiber stacks. Check the core
# only where its stacks survived.
out=$(gdb -nx -batch -ex "source $script" -ex "weft fibers" -ex "$first_bt" "$prog" "$core" 2>&1)
echo "$out"
if grep -Eq "^[0-9]+ +alpha " <<<"$out"; then check "$out" core; else echo "NOTE: gcore lost the fiber stacks (guard regions): core check skipped"; fi
echo "PASS"
