#!/usr/bin/env python3
"""Where an Erlang -> Python wake-up's time goes, seen by the kernel (issue 12, wake latency).

Runs the wake-latency measurement of ``seed_compare.escript`` (one fresh VM, 500 stamps written
2 ms apart, Python blocked in ``read(8)``) under ``perf record`` with the scheduler's
tracepoints and the futex/sched_yield system calls, then splits every wake-up into steps:

  the waker's FUTEX_WAKE enters the kernel -> the reader is marked runnable -> it is on a CPU
  -> its futex wait returns -> its next futex or sched_yield call (a lock it must wait for,
  or, once its read returned and Python took its timestamp, the next ``read(8)`` waiting)

and says on which CPU the reader ran (the waker's, or the other, idle, one), in how many
streaks the wake-ups on the other CPU came (and whether the waker had moved CPU just before
each), and how often it was woken more than once for one stamp (it blocked again, on a lock
its waker still held).
Needs root (perf tracepoints).

  python3 benches/erlang/wake_breakdown.py            # ours (nif/ebin; `make build-nif` first)
  python3 benches/erlang/wake_breakdown.py --seed DIR # the seed's C build (DIR holds ebin/)

Timestamps are perf's (microsecond resolution); tracing every system call of these kinds adds
a little to each step, the same for both implementations.
"""

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EVENTS = ["sched:sched_switch", "sched:sched_wakeup", "syscalls:sys_enter_futex",
          "syscalls:sys_exit_futex", "syscalls:sys_enter_sched_yield"]
# FUTEX_WAKE | FUTEX_PRIVATE_FLAG
FUTEX_WAKE_PRIVATE = re.compile(r"op: 0x0*81,")
LINE = re.compile(r"^\s*(\S.*?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$")
# A wake-up belongs to the FUTEX_WAKE that entered at most this long before it (µs).
PAIRING_US = 200
# The wake-ups of one stamp: well within the 2 ms between stamps (µs).
WINDOW_US = 1000
# The first wake-ups belong to the set-up, not to the stamps.
SKIP = 5


def record(impl, ebin, out):
    cmd = ["perf", "record", "-q", "-a", "-o", out]
    for event in EVENTS:
        cmd += ["-e", event]
    cmd += ["--", "escript", str(HERE / "seed_compare.escript"), "measure", impl, ebin, "quick", "wake"]
    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result = [l for l in run.stdout.splitlines() if l.startswith("RESULT")]
    print(f"{impl}: {result[0] if result else run.stdout[-500:]}")


def events(data):
    out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,tid,cpu,time,event,trace"],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            comm, tid, cpu, t, ev, rest = m.groups()
            yield float(t) * 1e6, int(tid), int(cpu), ev, rest


def woken_pid(rest):
    return int(re.search(r" pid=(\d+)", rest).group(1))


def reader_tid(evs):
    """The thread most often woken right after another thread's FUTEX_WAKE."""
    woken, calls = Counter(), {}
    for t, tid, _cpu, ev, rest in evs:
        if ev == "syscalls:sys_enter_futex" and FUTEX_WAKE_PRIVATE.search(rest):
            calls[tid] = t
        elif ev == "sched:sched_wakeup":
            pid = woken_pid(rest)
            if any(t - ct < PAIRING_US and ctid != pid for ctid, ct in calls.items()):
                woken[pid] += 1
            calls.clear()
    return woken.most_common(1)[0][0]


def wakeups(evs, reader):
    """One row per wake-up of the reader by another thread's FUTEX_WAKE; `wakes` counts the
    reader's wake-ups within WINDOW_US of it (2 or more: it blocked again before its read
    returned, e.g. on a lock its waker still held)."""
    rows, calls, cur = [], {}, None
    for t, tid, cpu, ev, rest in evs:
        if cur is not None and t - cur["call"] > WINDOW_US:
            rows.append(cur)
            cur = None
        if ev == "syscalls:sys_enter_futex" and tid != reader and FUTEX_WAKE_PRIVATE.search(rest):
            calls[tid] = (t, cpu)
        elif ev == "sched:sched_wakeup" and woken_pid(rest) == reader:
            target = int(re.search(r"target_cpu=(\d+)", rest).group(1))
            recent = [c for c in calls.values() if t - c[0] < PAIRING_US]
            if cur is not None:
                cur["wakes"] += 1
            elif recent:
                call_t, call_cpu = max(recent)
                cur = {"call": call_t, "runnable": t, "same_cpu": target == call_cpu, "wakes": 1,
                       "waker_cpu": call_cpu}
            calls.clear()
        elif cur is None:
            continue
        elif ev == "sched:sched_switch" and f"next_pid={reader} " in rest and "on_cpu" not in cur:
            cur["on_cpu"] = t
        elif tid == reader and ev == "syscalls:sys_exit_futex" and "on_cpu" in cur and "exit" not in cur:
            cur["exit"] = t
        elif tid == reader and "exit" in cur and "next" not in cur and ev in (
                "syscalls:sys_enter_sched_yield", "syscalls:sys_enter_futex"):
            cur["next"] = t
    return [r for r in rows[SKIP:] if "next" in r]


def table(rows):
    def line(name, values):
        v = sorted(values)
        q = lambda p: v[min(len(v) - 1, int(len(v) * p))]
        print(f"| {name} | {statistics.median(v):.0f} µs | {q(0.9):.0f} µs | {q(0.99):.0f} µs |")
    print("| step | median | p90 | p99 |\n|---|---|---|---|")
    line("waker's FUTEX_WAKE entered → reader runnable", [r["runnable"] - r["call"] for r in rows])
    line("runnable → on a CPU", [r["on_cpu"] - r["runnable"] for r in rows])
    line("on a CPU → its futex wait returned", [r["exit"] - r["on_cpu"] for r in rows])
    line("FUTEX_WAKE entered → reader's wait returned", [r["exit"] - r["call"] for r in rows])
    line("wait returned → its next futex or sched_yield call (a lock, or its next read waiting)",
         [r["next"] - r["exit"] for r in rows])


def streaks(rows):
    """Lengths of the runs of consecutive wake-ups on the other CPU."""
    runs, length = [], 0
    for r in rows:
        if r["same_cpu"]:
            if length:
                runs.append(length)
            length = 0
        else:
            length += 1
    return runs + ([length] if length else [])


def waker_moved(rows):
    """For each streak's first wake-up: whether the waker ran on another CPU than before."""
    for before, r in zip(rows, rows[1:]):
        if before["same_cpu"] and not r["same_cpu"]:
            yield r["waker_cpu"] != before["waker_cpu"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", metavar="DIR", help="the seed's application directory (ebin/, priv/)")
    parser.add_argument("--data", metavar="FILE", help="analyse this perf.data instead of recording")
    args = parser.parse_args()
    impl, ebin = ("seed", str(Path(args.seed) / "ebin")) if args.seed else ("ours", str(ROOT / "nif" / "ebin"))
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or str(Path(tmp) / "perf.data")
        if not args.data:
            record(impl, ebin, data)
        evs = list(events(data))
    reader = reader_tid(evs)
    rows = wakeups(evs, reader)
    same = [r for r in rows if r["same_cpu"]]
    print(f"\n{len(rows)} wake-ups; the reader ran on the waker's CPU in {len(same)}, "
          f"was woken more than once in {sum(r['wakes'] > 1 for r in rows)}")
    runs = streaks(rows)
    if runs:
        print(f"the other CPU: {len(runs)} streak(s) of consecutive wake-ups, the longest "
              f"{max(runs)}; {sum(waker_moved(rows))} began after the "
              f"waker's thread changed CPU")
    print()
    for label, sel in (("all", rows), ("on the waker's CPU", same),
                       ("on the other CPU", [r for r in rows if not r["same_cpu"]])):
        if sel:
            print(f"{label} ({len(sel)}):\n")
            table(sel)
            print()


if __name__ == "__main__":
    sys.exit(main())
