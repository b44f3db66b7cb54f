"""Python side of benches/erlang/py_bench.escript (Erlang -> Python benchmarks).

Uses only the seed's reading API (``read(n)``), so the same script can be rerun against
another implementation of ``erlang.PyBuffer``.
"""

import socket
import time


def drain(buf, size):
    """``read(size)`` until EOF; returns the number of bytes read."""
    total = 0
    read = buf.read
    while True:
        chunk = read(size)
        if not chunk:
            return total
        total += len(chunk)


def drain_socket(port, size):
    """Baseline: the same loop over a loopback TCP socket Erlang writes to."""
    with socket.create_server(('127.0.0.1', port)) as server:
        conn, _ = server.accept()
        with conn:
            total = 0
            recv = conn.recv
            while True:
                chunk = recv(size)
                if not chunk:
                    return total
                total += len(chunk)


def listen_port():
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wake_latency(buf, count):
    """``read(8)`` of `count` 8-byte timestamps (ns, big-endian) written by Erlang; returns
    ``time.time_ns() - stamp`` for each, in nanoseconds."""
    out = []
    read = buf.read
    now = time.time_ns
    for _ in range(count):
        stamp = read(8)
        t = now()
        out.append(t - int.from_bytes(stamp, 'big'))
    return out


def noop():
    return None
