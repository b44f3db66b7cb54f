"""The Python half of ``make bench-wake-trace`` (``wake_trace.escript``): reads Erlang's
8-byte stamps with ``read(8)`` and splits each wake-up into the steps the core, the binding
and the NIF timestamped (``py_buffer_core::wake_trace``; a NIF built with the ``wake-trace``
feature)."""

import bisect
import statistics
import time

import py_buffer._native as native

STEPS = ["Erlang stamp", "write NIF entered", "before the wake (locks released)",
         "reader's condvar wait returned", "reader's try done", "GIL re-acquired",
         "`bytes` made", "`read` returns", "Python `time.time_ns()`"]
# The first wake-ups belong to the set-up.
SKIP = 5
# The tail whose steps are shown apart (percent of the wake-ups).
TAIL_PERCENT = 2


def run(buf, count):
    """Reads ``count`` stamps; returns the breakdown as markdown tables (all, the slowest)."""
    native._wake_trace()  # forget what came before
    read, now, got = buf.read, time.time_ns, []
    for _ in range(count):
        stamp = read(8)
        t = now()
        got.append((int.from_bytes(stamp, "big"), t))
    return table(got, [sorted(m) for m in native._wake_trace()])


def table(got, marks):
    rows = []
    for stamp, done in got[SKIP:]:
        row = [stamp]
        for times in marks:
            i = bisect.bisect_left(times, row[-1])
            if i == len(times) or times[i] > done:
                break  # a point not passed for this stamp (the reader did not sleep)
            row.append(times[i])
        else:
            rows.append(row + [done])
    lines = [f"{len(rows)} of {len(got) - SKIP} wake-ups passed every point (microseconds):", "",
             "| step | median | p90 | p99 |", "|---|---|---|---|"]

    def line(name, values):
        v = sorted(values)
        q = lambda p: v[min(len(v) - 1, int(len(v) * p))]
        lines.append(f"| {name} | {statistics.median(v):.1f} | {q(0.9):.1f} | {q(0.99):.1f} |")

    def steps(of):
        for k in range(1, len(STEPS)):
            line(f"{STEPS[k - 1]} → {STEPS[k]}", [(r[k] - r[k - 1]) / 1000 for r in of])
        line("total", [(r[-1] - r[0]) / 1000 for r in of])

    steps(rows)
    # Where the tail goes: the same steps over the slowest wake-ups only.
    slowest = sorted(rows, key=lambda r: r[-1] - r[0])[-max(1, len(rows) * TAIL_PERCENT // 100):]
    lines += ["", f"The slowest {TAIL_PERCENT}% ({len(slowest)} wake-ups):", "",
              "| step | median | p90 | p99 |", "|---|---|---|---|"]
    steps(slowest)
    return "\n".join(lines)
