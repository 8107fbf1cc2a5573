# weft-gdb.py — gdb commands for weft fibers, on a live process or a core file. In gdb:
# `source tools/weft-gdb.py`, then
#   weft fibers        every started fiber: id, name, state, worker, stack size, and what it waits
#                      for (the same wait records fiber::dump() prints: mutex and its holder,
#                      channel, join, sleep, socket fd, DNS host, fiber::blocking, hooked calls ...)
#   weft threads       OS threads waiting on weft objects (e.g. main in a join)
#   weft bt <id>       backtrace of a fiber that is parked or ready
# Needs the program's debug info (weft's own is always built with -g).
#
# A suspended fiber's fcontext handle points at the registers Boost.Context saved (x86-64 SysV
# layout of jump_fcontext, which weft_jump_context keeps: r12 at +0x8 .. rbx at +0x28, rbp at +0x30, return address at +0x38,
# the stack continuing at +0x40). On a live process `weft bt` loads them into the selected thread,
# prints the backtrace and puts the thread's own registers back; on a core file (registers cannot
# be written) it uses `frame view <sp> <pc>`, which unwinds from the saved stack and return address.
import gdb

STATES = {0: "created", 1: "ready", 2: "running", 3: "parked", 4: "finished"}
# fiber/detail/wait_record.hpp, enum class wait_kind (same order).
WAIT_KINDS = ["none", "mutex", "shared_mutex (write)", "shared_mutex (read)", "condition_variable", "semaphore",
              "latch", "barrier", "wait_group", "future", "channel send", "channel recv", "select", "join",
              "sleep", "socket read", "socket write", "socket connect", "DNS lookup", "fiber::blocking",
              "pthread mutex", "pthread cond", "file I/O", "park"]


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


def _atomic(v):
    """The value inside a std::atomic<T> (libstdc++ layouts for integers, enums, bools, pointers)."""
    for path in (("_M_i",), ("_M_b", "_M_p"), ("_M_base", "_M_i")):
        try:
            x = v
            for p in path:
                x = x[p]
            return x
        except gdb.error:
            continue
    return v


def _by_address():
    return {int(f): f for _, f in _fibers()}


def _is_running_target():
    try:
        return "core" not in gdb.execute("info target", to_string=True).splitlines()[0].lower()
    except gdb.error:
        return True


def _holder_text(holder, fibers):
    if holder == 0:
        return ""
    f = fibers.get(holder)
    if f is not None:
        return " held by fiber %d '%s'" % (int(f["id"]), _name(f))
    return " held by thread parker 0x%x (an OS thread)" % holder


def _wait_text(rec, fibers):
    kind = int(_atomic(rec["kind"]))
    if kind == 0:
        return ""
    name = WAIT_KINDS[kind] if kind < len(WAIT_KINDS) else str(kind)
    obj = int(_atomic(rec["object"]))
    detail = int(_atomic(rec["detail"]))
    extra = int(_atomic(rec["extra"]))
    text = name
    try:
        if kind == 1:  # mutex: its mutex_core records the holder
            core = gdb.Value(obj).cast(gdb.lookup_type("fiber::detail::mutex_core").pointer()).dereference()
            locked = int(_atomic(core["state_"])) & 1
            text += " 0x%x" % obj + (_holder_text(int(_atomic(core["holder_"])), fibers) if locked else "")
        elif kind in (2, 3):
            core = gdb.Value(obj).cast(gdb.lookup_type("fiber::detail::shared_core").pointer()).dereference()
            wr = core["writers_"]
            locked = int(_atomic(wr["state_"])) & 1
            text += " 0x%x" % obj + (_holder_text(int(_atomic(wr["holder_"])), fibers) if locked else "")
        elif kind in (10, 11):
            text += " on 0x%x (capacity %d)" % (obj, detail)
        elif kind == 13:
            f = fibers.get(obj)
            text = "join of fiber %d" % detail + (" '%s'" % _name(f) if f is not None else "")
        elif kind in (15, 16, 17):
            text += " on fd %d" % detail
        elif kind == 18 and extra:
            text += " of '%s'" % gdb.Value(extra).cast(gdb.lookup_type("char").pointer()).string(length=255)
        elif kind == 12:
            text += " on %d channel case(s)" % detail
        elif obj:
            text += " 0x%x" % obj
    except gdb.error:
        pass
    via = int(_atomic(rec["via"]))
    if via:
        try:
            text += " (hooked %s)" % gdb.Value(via).cast(gdb.lookup_type("char").pointer()).string(length=64)
        except gdb.error:
            pass
    return text


class Weft(gdb.Command):
    """weft fiber commands: `weft fibers`, `weft threads`, `weft bt <id>`."""

    def __init__(self):
        super().__init__("weft", gdb.COMMAND_USER, gdb.COMPLETE_NONE, True)


class WeftFibers(gdb.Command):
    """List every started, unfinished fiber of every weft worker, with what it waits for."""

    def __init__(self):
        super().__init__("weft fibers", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        rows = 0
        fibers = _by_address()
        print("%-10s %-24s %-13s %-7s %-8s %s" % ("id", "name", "state", "worker", "stack", "waiting for"))
        for w, f in _fibers():
            state = STATES.get(int(f["state"]), str(int(f["state"])))
            wait = ""
            try:
                wait = _wait_text(f["wait"], fibers)
            except gdb.error:
                pass
            if state == "parked" and wait.startswith("fiber::blocking"):
                state = "blocking-pool"
            print("%-10d %-24s %-13s %-7d %-8d %s" % (int(f["id"]), _name(f), state, int(w["index_"]),
                                                     int(f["stack_size"]), wait))
            rows += 1
        print("%d fiber(s)" % rows)


class WeftThreads(gdb.Command):
    """List OS threads that wait on a weft object (their wait records)."""

    def __init__(self):
        super().__init__("weft threads", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        fibers = _by_address()
        sym = gdb.lookup_global_symbol("fiber::detail::thread_parker_pool")
        if sym is None:
            print("no weft thread parkers in this program")
            return
        p = _atomic(sym.value())
        rows = 0
        while int(p) != 0:
            t = p.dereference()
            if int(_atomic(t["in_use"])) and int(_atomic(t["wait"]["kind"])) != 0:
                print("thread %d: waiting for %s" % (int(_atomic(t["tid"])), _wait_text(t["wait"], fibers)))
                rows += 1
            p = t["all_next"]
        print("%d waiting thread(s)" % rows)


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
            if not _is_running_target():
                # A core file: registers are read-only; let gdb unwind from the saved sp and pc.
                gdb.execute("frame view 0x%x 0x%x" % (handle + 0x40, saved(0x38)))
                gdb.execute("bt")
                return
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
WeftThreads()
WeftBacktrace()
