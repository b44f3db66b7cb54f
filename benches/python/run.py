"""py_buffer's Python benchmarks: every figure side by side with its baseline, in one process.

    python benches/python/run.py            # full run (256 MiB streams); updates docs/benchmarks.md
    python benches/python/run.py --quick    # smaller sizes, for a smoke test; writes nothing

Each figure is the best of a few repetitions (throughput) or a median (latency), measured in
this process right after its baseline, and printed as: ours, baseline, ratio, target.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import py_buffer
from py_buffer import PyBuffer

from doc_section import replace_section, table_lines, write_rows_json

MiB = 1 << 20
KiB = 1 << 10
CHUNK = 64 * KiB  # what every producer writes at a time
BOUND = 1 * MiB  # bounded mode, and the Condition buffer's bound
ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "benchmarks.md"


def best(fn: Callable[[], float], repeat: int) -> float:
    """The best (smallest) of `repeat` timings; `fn` returns seconds."""
    times = []
    for _ in range(repeat):
        gc.collect()
        times.append(fn())
    return min(times)


def race(contenders: dict, repeat: int) -> dict:
    """Best time of each contender, running them in turn `repeat` times (interleaved, so a
    slow period of a shared machine hits every contender alike)."""
    times: dict = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            gc.collect()
            times[name].append(fn())
    return {name: min(t) for name, t in times.items()}


# --- streaming with a producer thread ------------------------------------------------------


def payload() -> bytes:
    return bytes(range(256)) * (CHUNK // 256)


def stream_pybuffer(total: int, n: int, bounded: bool, chunk_type: type = bytes) -> float:
    buf = PyBuffer(max_buffered=BOUND) if bounded else PyBuffer()
    writer = buf.writer()
    chunk = chunk_type(payload())

    def produce() -> None:
        for _ in range(total // CHUNK):
            writer.write(chunk)
        writer.close()

    t0 = time.perf_counter()
    producer = threading.Thread(target=produce)
    producer.start()
    got = 0
    read = buf.read
    while True:
        data = read(n)
        if not data:
            break
        got += len(data)
    t1 = time.perf_counter()
    producer.join()
    assert got == total, got
    return t1 - t0


def stream_pipe(total: int, n: int) -> float:
    r, w = os.pipe()
    chunk = payload()

    def produce() -> None:
        with open(w, "wb", buffering=0) as out:
            for _ in range(total // CHUNK):
                out.write(chunk)

    t0 = time.perf_counter()
    producer = threading.Thread(target=produce)
    producer.start()
    got = 0
    with open(r, "rb") as inp:  # a BufferedReader: read(n) returns exactly n until EOF
        read = inp.read
        while True:
            data = read(n)
            if not data:
                break
            got += len(data)
    t1 = time.perf_counter()
    producer.join()
    assert got == total, got
    return t1 - t0


class ConditionBuffer:
    """The hand-made alternative: a bytearray guarded by a threading.Condition (optionally
    bounded: the writer waits while `bound` bytes are unread)."""

    def __init__(self, bound: Optional[int]) -> None:
        self.data = bytearray()
        self.cond = threading.Condition()
        self.eof = False
        self.bound = bound

    def write(self, chunk: bytes) -> None:
        with self.cond:
            while self.bound is not None and len(self.data) >= self.bound:
                self.cond.wait()
            self.data += chunk
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def read(self, n: int) -> bytes:
        with self.cond:
            while len(self.data) < n and not self.eof:
                self.cond.wait()
            out = bytes(self.data[:n])
            del self.data[:n]
            self.cond.notify_all()
            return out


def stream_condition(total: int, n: int, bound: Optional[int] = BOUND) -> float:
    buf = ConditionBuffer(bound)
    chunk = payload()

    def produce() -> None:
        for _ in range(total // CHUNK):
            buf.write(chunk)
        buf.close()

    t0 = time.perf_counter()
    producer = threading.Thread(target=produce)
    producer.start()
    got = 0
    read = buf.read
    while True:
        data = read(n)
        if not data:
            break
        got += len(data)
    t1 = time.perf_counter()
    producer.join()
    assert got == total, got
    return t1 - t0


# --- reads of a complete body ----------------------------------------------------------------


def read_closed(make: Callable[[], object], size: int) -> float:
    f = make()
    read = f.read  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    while read(size):
        pass
    return time.perf_counter() - t0


def readinto_closed(make: Callable[[], object], size: int) -> float:
    f = make()
    target = bytearray(size)
    readinto = f.readinto  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    while readinto(target):
        pass
    return time.perf_counter() - t0


def iterate_lines(make: Callable[[], object]) -> float:
    f = make()
    t0 = time.perf_counter()
    for _ in f:  # type: ignore[attr-defined]
        pass
    return time.perf_counter() - t0


def gunicorn_body(data: bytes):
    from gunicorn.http.body import Body, LengthReader
    from gunicorn.http.unreader import IterUnreader

    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    return Body(LengthReader(IterUnreader(chunks), len(data)))


# --- wake-up latency ---------------------------------------------------------------------------


def pingpong_pybuffer(rounds: int) -> List[float]:
    a, b = PyBuffer(), PyBuffer()
    wa, wb = a.writer(), b.writer()

    def echo() -> None:
        for _ in range(rounds):
            a.read(1)
            wb.write(b"y")

    t = threading.Thread(target=echo)
    t.start()
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        wa.write(b"x")
        b.read(1)
        out.append(time.perf_counter() - t0)
    t.join()
    return out


def pingpong_pipe(rounds: int) -> List[float]:
    ra, wa = os.pipe()
    rb, wb = os.pipe()

    def echo() -> None:
        for _ in range(rounds):
            os.read(ra, 1)
            os.write(wb, b"y")

    t = threading.Thread(target=echo)
    t.start()
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        os.write(wa, b"x")
        os.read(rb, 1)
        out.append(time.perf_counter() - t0)
    t.join()
    for fd in (ra, wa, rb, wb):
        os.close(fd)
    return out


# --- the run ---------------------------------------------------------------------------------

Row = Tuple[str, str, str, str, float, str, str]  # figure, ours, baseline name, baseline, ratio, target, verdict


def gbps(nbytes: int, seconds: float) -> str:
    return f"{nbytes / seconds / 1e9:.2f} GB/s"


def verdict(ratio: float, target: Optional[float], higher_is_better: bool = True) -> str:
    if target is None:
        return "-"
    ok = ratio >= target if higher_is_better else ratio <= target
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes; do not write docs")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--json", type=Path, help="also write the rows to this file (benches/before_after.py reads it)")
    opts = parser.parse_args()
    quick = opts.quick
    stream_total = (16 if quick else 256) * MiB
    closed_total = (16 if quick else 256) * MiB
    line_total = (4 if quick else 32) * MiB
    find_total = (8 if quick else 64) * MiB
    repeat = 2 if quick else 5
    rounds = 2000 if quick else 20000
    rows: List[Row] = []

    def add(figure, ours, base_name, base, ratio, target, higher=True):
        tgt = "-" if target is None else (f">= {target}x" if higher else f"<= {target}x")
        row = (figure, ours, base_name, base, ratio, tgt, verdict(ratio, target, higher))
        rows.append(row)
        print(f"{figure:<44} {ours:>14}  vs {base_name:<22} {base:>14}  ratio {ratio:6.2f}x  target {tgt:<9} {row[6]}", flush=True)

    print(f"py_buffer {py_buffer.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    # 1. Streaming with a producer thread.
    stream_n_total = {80: stream_total, 4 * KiB: stream_total, 64 * KiB: stream_total}
    for n in (80, 4 * KiB, 64 * KiB):
        total = stream_n_total[n]
        label = f"{n} B" if n < KiB else f"{n // KiB} KiB"
        is64 = n == 64 * KiB
        contenders = {
            "pipe": lambda: stream_pipe(total, n),
            "cond": lambda: stream_condition(total, n),
            "cond_unbounded": lambda: stream_condition(total, n, None),
            "bounded": lambda: stream_pybuffer(total, n, True),
            "default": lambda: stream_pybuffer(total, n, False),
        }
        if is64:
            contenders["copied"] = lambda: stream_pybuffer(total, n, False, bytearray)
        t = race(contenders, repeat)
        pipe, cond, cond_unbounded = t["pipe"], t["cond"], t["cond_unbounded"]
        bounded, default = t["bounded"], t["default"]
        size = f"{total // MiB} MiB"
        add(f"stream {size} read({label}), bounded 1 MiB", gbps(total, bounded), "os.pipe+thread", gbps(total, pipe), pipe / bounded, 2.5 if is64 else None)
        # 2x, not 6x, the bounded Condition buffer: its copies are cache-hot (docs/benchmarks.md, "Before and after issue 12").
        add(f"stream {size} read({label}), bounded 1 MiB", gbps(total, bounded), "Condition, bounded 1 MiB", gbps(total, cond), cond / bounded, 2.0 if is64 else None)
        add(f"stream {size} read({label}), bounded 1 MiB", gbps(total, bounded), "Condition, unbounded", gbps(total, cond_unbounded), cond_unbounded / bounded, 6.0 if is64 else None)
        add(f"stream {size} read({label}), default mode", gbps(total, default), "os.pipe+thread", gbps(total, pipe), pipe / default, 1.2 if is64 else None)
        if is64:
            copied = t["copied"]
            add(f"stream {size} read({label}), default, bytearray chunks", gbps(total, copied), "os.pipe+thread", gbps(total, pipe), pipe / copied, None)
    # 2. Reads of a complete (closed) body.
    data = bytes(range(256)) * (closed_total // 256)
    for size in (64 * KiB,):
        t = race({"ours": lambda: read_closed(lambda: PyBuffer.from_bytes(data), size),
                  "base": lambda: read_closed(lambda: io.BytesIO(data), size)}, repeat)
        ours, base = t["ours"], t["base"]
        add(f"read(64 KiB) of a closed {closed_total // MiB} MiB body", gbps(closed_total, ours), "io.BytesIO.read", gbps(closed_total, base), base / ours, 0.9)
        t = race({"ours": lambda: readinto_closed(lambda: PyBuffer.from_bytes(data), size),
                  "base": lambda: readinto_closed(lambda: io.BytesIO(data), size)}, repeat)
        ours, base = t["ours"], t["base"]
        # Parity within one run's noise (both are one memcpy per call): 0.95x, not 1.0x.
        add(f"readinto(64 KiB bytearray), {closed_total // MiB} MiB", gbps(closed_total, ours), "io.BytesIO.readinto", gbps(closed_total, base), base / ours, 0.95)
    del data
    # 3. Line iteration, 80-byte lines.
    lines = (b"x" * 79 + b"\n") * (line_total // 80)
    nlines = len(lines) // 80
    t = race({"ours": lambda: iterate_lines(lambda: PyBuffer.from_bytes(lines)),
              "base": lambda: iterate_lines(lambda: io.BytesIO(lines))}, repeat)
    ours, base = t["ours"], t["base"]
    per = lambda s: f"{s / nlines * 1e9:.0f} ns/line"  # noqa: E731
    add(f"iterate {nlines} lines of 80 B", per(ours), "io.BytesIO", per(base), base / ours, 0.6)
    guni = best(lambda: iterate_lines(lambda: gunicorn_body(lines)), 1)
    add(f"iterate {nlines} lines of 80 B", per(ours), "gunicorn Body", per(guni), guni / ours, 10.0)
    del lines
    # 4. Wake-up latency (ping-pong between two threads): interleaved trials, median of medians.
    pingpong_pybuffer(200)
    pingpong_pipe(200)
    ours_trials, pipe_trials = [], []
    for _ in range(5):
        ours_trials.append(statistics.median(pingpong_pybuffer(rounds // 5)))
        pipe_trials.append(statistics.median(pingpong_pipe(rounds // 5)))
    ours_lat = statistics.median(ours_trials)
    pipe_lat = statistics.median(pipe_trials)
    add("ping-pong round trip (median)", f"{ours_lat * 1e6:.1f} us", "os.pipe", f"{pipe_lat * 1e6:.1f} us", ours_lat / pipe_lat, 0.6, higher=False)
    # 5. find on a large body.
    hay = bytes(range(256)) * (find_total // 256 - 1) + b"--boundary-7MA4YWxkTrZu0gW--" + bytes(228)
    needle = b"--boundary-7MA4YWxkTrZu0gW--"
    buf = PyBuffer.from_bytes(hay)
    expect = hay.find(needle)
    assert buf.find(needle) == expect

    def time_find(fn: Callable[[], int]) -> float:
        t0 = time.perf_counter()
        for _ in range(5):
            assert fn() == expect
        return (time.perf_counter() - t0) / 5

    t = race({"ours": lambda: time_find(lambda: buf.find(needle)),
              "base": lambda: time_find(lambda: hay.find(needle))}, repeat)
    ours, base = t["ours"], t["base"]
    add(f"find(28-byte needle) in {find_total // MiB} MiB", gbps(len(hay), ours), "bytes.find", gbps(len(hay), base), base / ours, 2.0)

    if opts.json:
        write_rows_json(opts.json, [("", rows)])
    if not (quick or opts.no_write):
        write_doc(rows, repeat)


def write_doc(rows: List[Row], repeat: int) -> None:
    lines = [
        "## Python",
        "",
        "Measured by `python benches/python/run.py` (one process, each figure run in turn with its",
        f"baseline, interleaved; throughput is the best of {repeat} runs, latency the median of 5",
        f"trials' medians). Machine: {os.cpu_count()} CPUs, {platform.machine()},",
        f"Python {platform.python_version()}, py_buffer {py_buffer.__version__}. Ratios are \"times faster than",
        "the baseline\" (throughput) except the ping-pong row, where it is our latency over the baseline's.",
        "",
    ]
    lines += table_lines(rows)
    lines.append("")
    lines.append(NOTES.strip())
    lines.append("")
    replace_section(DOC, "Python", "\n".join(lines) + "\n")


NOTES = """
Notes on the Python figures (design choices in docs/decisions.md, "## Python"):
- **Streaming.** The producer thread writes one 64 KiB `bytes` object over and over (the same
  for every contender). PyBuffer keeps `bytes` writes of 4 KiB or more by reference, so each
  byte is copied once, into the reader's `bytes`, from cache-hot memory; os.pipe copies twice
  through the kernel and the Condition buffer three times (append, slice, `bytes()`). The
  "bytearray chunks" row is the copying path of the default mode: every chunk is copied into
  fresh memory that is kept (the body stays seekable from 0), so first-touch page faults
  dominate, as they did for the seed; 2.5-3.7 GB/s in our runs, still 2-7x the seed's
  0.5-1.2 GB/s.
- **Default-mode target.** "At least 2x the seed's C implementation, which streamed 0.5-1.2 GB/s
  here (about 0.25-0.6x os.pipe)" is stated as >= 1.2x os.pipe (2x the seed's best ratio).
- **Bounded vs the Condition buffer: 6x against the plain one, 2x against the bounded
  variant** (it was 6x, a mis-set baseline: "Before and after issue 12"). With a 1 MiB bound
  and one reused 64 KiB chunk, the Condition buffer's three copies all hit L2 and it streams
  at about 12 GB/s; 6x that is faster than one cache-hot copy per byte on this machine, which
  is all a reader of `bytes` can do. The plain, unbounded recipe grows a bytearray to the
  whole body (page faults, reallocation) and is about 50x slower than bounded PyBuffer.
- **read / readinto of a closed body: at parity** (0.96-1.02x across runs; the readinto target
  is 0.95x: it was 1.0x, met or missed by a few percent from run to run). Both sides are one
  memcpy per call; our fixed cost per call is ~70 ns against BytesIO's ~25 ns (the buffer's
  mutex, about 20 ns, and PyO3's argument handling), 2-4% of a 64 KiB call.
- **Line iteration (target 0.6x io.BytesIO): missed, about 0.25x.** Each `readline` is one
  transaction on the buffer's mutex (lock and unlock are about a third of the core's ~38 ns
  per 80-byte line measured in Rust alone), plus the PyO3 call and the `bytes` allocation;
  `io.BytesIO` does the whole line in ~16 ns inside one C loop, protected by the GIL alone.
  PyBuffer's writers (Rust, the Erlang NIF) never hold the GIL, so its reads cannot lean on
  the GIL; 0.6x would need a lock-free read path in the core. (The seed's C: about 0.3x.)
- **Ping-pong.** A waiter polls the buffer (yielding the CPU) for up to 50 us before parking,
  because waking a parked thread costs tens of microseconds on this VM. Both sides depend on
  where the scheduler puts the two threads. On different CPUs: ours 1.1-1.7 us, os.pipe
  ~44 us (its reader is parked and woken by an interrupt): 0.04x. Sharing one CPU: ours
  ~3.5 us (each hand-over is a `sched_yield` switch), os.pipe ~5 us (the kernel's synchronous
  wake-up): 0.7x, a miss. With `PY_BUFFER_SPIN_US=0` (park at once) ours is ~20 us.
- **find** is `memchr::memmem` (SIMD) against CPython's two-way search.
"""

if __name__ == "__main__":
    main()
