"""``PyBuffer.readline()`` per call against ``io.BytesIO.readline()``, data ready (issue 12).

    python benches/python/bench_readline.py              # wall time: alternating rounds
    python benches/python/bench_readline.py --callgrind  # instructions per call (valgrind)

Both read the same 80-byte lines; PyBuffer's body is written in 64 KiB ``bytes`` chunks (kept
by reference: one block each, as a body written from Erlang in 64 KiB binaries), BytesIO's is
one object. Wall time: rounds of ``--calls`` calls alternate between the two (the order flips
every round) in this one process; printed are the median ns per call of each and the median
of the per-round ratios. ``--callgrind`` runs this script under ``valgrind --tool=callgrind``
with ``--calls`` and with twice as many (on the same body), for each contender, and prints the
difference in instructions divided by the difference in calls: the cost of one call, without
start-up or building the body (valgrind counts each byte a ``rep movsb`` copies).
``--args`` picks the call form measured: ``none`` (``readline()``) or ``int``
(``readline(1000)``; BytesIO takes no keyword).
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import subprocess
import sys
import time

from py_buffer import PyBuffer

LINE = b"x" * 79 + b"\n"
CHUNK = 64 * 1024


def body(lines: int) -> bytes:
    """`lines` lines."""
    return LINE * lines


def ours(data: bytes) -> PyBuffer:
    buf = PyBuffer()
    w = buf.writer()
    for i in range(0, len(data), CHUNK):
        w.write(data[i : i + CHUNK])
    w.close()
    return buf


FORMS = ("none", "int")


def timed(f, calls: int, form: str) -> float:
    """ns per call of `calls` calls of `f.readline` in the form `form`."""
    readline = f.readline
    if form == "none":
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            readline()
    else:
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            readline(1000)
    return (time.perf_counter_ns() - t0) / calls


def run_once(who: str, calls: int, form: str, lines: int) -> None:
    """One contender, `calls` calls on a body of `lines` lines (for callgrind): nothing
    printed."""
    data = body(lines)
    f = ours(data) if who == "ours" else io.BytesIO(data)
    timed(f, calls, form)  # the same loop as the wall-time figure


def wall(calls: int, rounds: int, form: str) -> None:
    data = body(calls + 1)
    mine, base, ratios = [], [], []
    for r in range(rounds):
        order = ("ours", "bytesio") if r % 2 == 0 else ("bytesio", "ours")
        got = {}
        for who in order:
            f = ours(data) if who == "ours" else io.BytesIO(data)
            got[who] = timed(f, calls, form)
        mine.append(got["ours"])
        base.append(got["bytesio"])
        ratios.append(got["ours"] / got["bytesio"])
    print(
        f"readline form={form}: ours {statistics.median(mine):.1f} ns/call, "
        f"io.BytesIO {statistics.median(base):.1f} ns/call, "
        f"ratio (median of {rounds} rounds) {statistics.median(ratios):.2f}x "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f})"
    )


def instructions(who: str, calls: int, form: str, lines: int) -> int:
    """Instructions callgrind counts for the whole process."""
    out = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--run-once",
            who,
            "--calls",
            str(calls),
            "--args",
            form,
            "--lines",
            str(lines),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", out.stderr)
    if not found:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{out.stderr}")
    return int(found.group(1))


def callgrind(calls: int, form: str) -> None:
    # Both runs build the same body, so its cost (proportional to its size) cancels out.
    lines = 2 * calls + 1
    per_call = {}
    for who in ("ours", "bytesio"):
        per_call[who] = (
            instructions(who, 2 * calls, form, lines) - instructions(who, calls, form, lines)
        ) / calls
    print(
        f"readline form={form}: ours {per_call['ours']:.0f} instructions/call, "
        f"io.BytesIO {per_call['bytesio']:.0f}, ratio {per_call['ours'] / per_call['bytesio']:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--args", choices=FORMS, default="none")
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--run-once", choices=["ours", "bytesio"], help=argparse.SUPPRESS)
    parser.add_argument("--lines", type=int, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.run_once:
        run_once(opts.run_once, opts.calls, opts.args, opts.lines or opts.calls + 1)
    elif opts.callgrind:
        callgrind(opts.calls, opts.args)
    else:
        wall(opts.calls, opts.rounds, opts.args)


if __name__ == "__main__":
    main()
