# weft-gdb.py — gdb commands for weft fibers. In gdb: `source tools/weft-gdb.py`, then
#   weft fibers        list every started fiber: id, name, state, worker, stack size
#   weft bt <id>       backtrace of a fiber that is parked or ready (live process only)
# Needs the program's debug info (-g, e.g. CMAKE_BUILD_TYPE=RelWithDebInfo).
#
# A suspended fiber's fcontext handle points at the registers Boost.Context saved (x86-64 SysV
# layout of jump_fcontext: r12 at +0x8 .. rbx at +0x28, rbp at +0x30, return address at +0x38,
# the stack continuing at +0x40). `weft bt` loads them into the selected thread, prints the
# backtrace, and puts the thread's own registers back.
import gdb

STATES = {0: "created", 1: "ready", 2: "running", 3: "parked", 4: "finished"}


def _workers():
    count = int(gdb.parse_and_eval("weft_debug_worker_count"))
    table = gdb.parse_and_eval("weft_debug_workers")
    for i in range(count):
        w = table[i]
        if int(w) != 0:
            yield w


def _fibers():
    for w in _workers():
        f = w["started_"]
        while int(f) != 0:
            yield w, f
            f = f["started_next"]


def _name(f):
    try:
        return f["name"]["_M_dataplus"]["_M_p"].string()
    except gdb.error:
        return "?"


class Weft(gdb.Command):
    """weft fiber commands: `weft fibers`, `weft bt <id>`."""

    def __init__(self):
        super().__init__("weft", gdb.COMMAND_USER, gdb.COMPLETE_NONE, True)


class WeftFibers(gdb.Command):
    """List every started, unfinished fiber of every weft worker."""

    def __init__(self):
        super().__init__("weft fibers", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        rows = 0
        print("%-10s %-24s %-9s %-7s %s" % ("id", "name", "state", "worker", "stack"))
        for w, f in _fibers():
            state = STATES.get(int(f["state"]), str(int(f["state"])))
            print("%-10d %-24s %-9s %-7d %d" % (int(f["id"]), _name(f), state, int(w["index_"]), int(f["stack_size"])))
            rows += 1
        print("%d fiber(s)" % rows)


class WeftBacktrace(gdb.Command):
    """Backtrace of the suspended fiber with the given id: weft bt <id>."""

    def __init__(self):
        super().__init__("weft bt", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        want = int(arg.strip())
        for _, f in _fibers():
            if int(f["id"]) != want:
                continue
            if int(f["state"]) == 2:
                print("fiber %d is running: use `thread apply all bt` on its worker thread" % want)
                return
            handle = int(f["ctx"]["handle"])
            if handle == 0:
                print("fiber %d has no saved context" % want)
                return
            u64 = gdb.lookup_type("unsigned long").pointer()
            saved = lambda off: int(gdb.Value(handle + off).cast(u64).dereference())
            regs = ("rsp", "rbp", "rip", "rbx", "r12", "r13", "r14", "r15")
            old = {r: int(gdb.parse_and_eval("$" + r)) for r in regs}
            new = {"rsp": handle + 0x40, "rbp": saved(0x30), "rip": saved(0x38), "rbx": saved(0x28),
                   "r12": saved(0x8), "r13": saved(0x10), "r14": saved(0x18), "r15": saved(0x20)}
            try:
                for r, v in new.items():
                    gdb.execute("set $%s = %d" % (r, v))
                gdb.execute("bt")
            finally:
                for r, v in old.items():
                    gdb.execute("set $%s = %d" % (r, v))
            return
        print("no started fiber with id %d" % want)


Weft()
WeftFibers()
WeftBacktrace()
