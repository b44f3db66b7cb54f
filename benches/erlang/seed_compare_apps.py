"""Python side of benches/erlang/seed_compare.escript (ours vs the seed's C implementation).

Uses only what both implementations' Python buffer type offers (``read(n)``,
``readline()``, iteration, ``find``), so the same module runs inside either VM. Every
function times itself with ``time.perf_counter_ns`` so that the cost of ``py:call`` is not
counted, and returns plain ints and lists that convert to Erlang terms on both sides.
"""

import io
import time


def _bytes(data):
    """The seed hands Erlang binaries to Python as ``str`` (UTF-8), ours as ``bytes``."""
    return data.encode() if isinstance(data, str) else data


def drain(buf, size):
    """``read(size)`` until EOF; returns the number of bytes read."""
    total = 0
    read = buf.read
    while True:
        chunk = read(size)
        if not chunk:
            return total
        total += len(chunk)


def read_loop(buf, size):
    """``read(size)`` until EOF over a body that is already complete: [bytes, ns]."""
    t0 = time.perf_counter_ns()
    total = drain(buf, size)
    return [total, time.perf_counter_ns() - t0]


def lines(buf):
    """``for line in buf`` over a complete body: [lines, ns]."""
    t0 = time.perf_counter_ns()
    n = 0
    for _ in buf:
        n += 1
    return [n, time.perf_counter_ns() - t0]


def bytesio_lines(data):
    """The baseline: ``for line in io.BytesIO(data)``: [lines, ns]."""
    f = io.BytesIO(_bytes(data))
    t0 = time.perf_counter_ns()
    n = 0
    for _ in f:
        n += 1
    return [n, time.perf_counter_ns() - t0]


def readlines_each(buf, count):
    """``count`` calls of ``readline()`` on ready data: [lines, ns]."""
    readline = buf.readline
    t0 = time.perf_counter_ns()
    for _ in range(count):
        readline()
    return [count, time.perf_counter_ns() - t0]


def bytesio_readlines_each(data, count):
    """The baseline: ``count`` calls of ``io.BytesIO.readline()``: [lines, ns]."""
    readline = io.BytesIO(_bytes(data)).readline
    t0 = time.perf_counter_ns()
    for _ in range(count):
        readline()
    return [count, time.perf_counter_ns() - t0]


def find(buf, needle):
    """``buf.find(needle)`` over a complete body: [index, ns]."""
    needle = _bytes(needle)
    t0 = time.perf_counter_ns()
    at = buf.find(needle)
    return [at, time.perf_counter_ns() - t0]


def wake_latency(buf, count):
    """``read(8)`` of ``count`` 8-byte timestamps (ns, big-endian) written by Erlang; returns
    ``time.time_ns() - stamp`` for each, in nanoseconds."""
    out = []
    read = buf.read
    now = time.time_ns
    for _ in range(count):
        stamp = read(8)
        t = now()
        out.append(t - int.from_bytes(stamp, 'big'))
    return out
