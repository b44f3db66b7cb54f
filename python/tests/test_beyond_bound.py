"""Reads that need more than ``max_buffered`` bytes complete, taking bytes as they arrive, as
``io.BufferedReader`` over a pipe does: ``read()``, ``read(n)``,
``readinto``, a line longer than the bound, ``readlines``, iteration, and the awaitable
``aread``, ``areadexactly``, ``areadinto``. A body that fails afterwards loses nothing: the
bytes set aside for the read stay readable by ``read1``/``read_nonblock``/``peek``."""

from __future__ import annotations

import asyncio
import threading

import pytest

from py_buffer import BodyAborted, PyBuffer

BOUND = 1 << 12


def body(n: int) -> bytes:
    return bytes(b"abcdefghijklmnopqrstuvwxyz"[i % 26] for i in range(n))


def start_writer(buf: PyBuffer, data: bytes, end: str = "close") -> threading.Thread:
    w = buf.writer()

    def run() -> None:
        w.write(data)
        if end == "close":
            w.close()
        else:
            w.abort("client went away")

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def bounded() -> PyBuffer:
    buf = PyBuffer(max_buffered=BOUND)
    buf.settimeout(20)  # a regression fails with TimeoutError instead of hanging
    return buf


def test_read_all_larger_than_the_bound():
    buf = bounded()
    data = body(5 * BOUND + 7)
    t = start_writer(buf, data)
    assert buf.read() == data
    t.join(20)


def test_read_n_and_readinto_larger_than_the_bound():
    buf = bounded()
    data = body(6 * BOUND)
    t = start_writer(buf, data)
    assert buf.read(2 * BOUND + 1) == data[: 2 * BOUND + 1]
    target = bytearray(3 * BOUND)
    assert buf.readinto(target) == 3 * BOUND
    assert bytes(target) == data[2 * BOUND + 1 : 5 * BOUND + 1]
    assert buf.read() == data[5 * BOUND + 1 :]
    t.join(20)


def test_long_lines_readline_readlines_and_iteration():
    buf = bounded()
    lines = [b"x" * (3 * BOUND) + b"\n", b"short\n", b"y" * (2 * BOUND) + b"\n", b"z" * BOUND * 2 + b"\n", b"tail"]
    t = start_writer(buf, b"".join(lines))
    assert buf.readline() == lines[0]
    assert next(iter(buf)) == lines[1]
    assert buf.readlines(1) == [lines[2]]
    assert list(buf) == lines[3:]
    t.join(20)


def test_readlines_larger_than_the_bound():
    buf = bounded()
    lines = [b"%d\n" % i * 50 for i in range(200)]
    t = start_writer(buf, b"".join(lines))
    assert b"".join(buf.readlines()) == b"".join(lines)
    t.join(20)


def test_a_failed_body_after_a_long_read_began_loses_nothing():
    buf = bounded()
    w = buf.writer()
    data = body(2 * BOUND)
    assert w.try_write(data) == BOUND
    buf.settimeout(0)
    with pytest.raises(TimeoutError):
        buf.read(3 * BOUND)  # waits beyond the bound: its bytes are set aside
    assert w.try_write(data[BOUND:]) == BOUND, "the writer got room"
    w.abort("client went away")
    with pytest.raises(BodyAborted):
        buf.read(3 * BOUND)
    with pytest.raises(BodyAborted):
        buf.read()
    assert buf.peek() == data
    assert buf.read1() == data
    with pytest.raises(BodyAborted):
        buf.read_nonblock(1)


def test_awaitable_reads_larger_than_the_bound():
    buf = bounded()
    data = body(8 * BOUND)
    line = b"q" * (3 * BOUND) + b"\n"

    async def main():
        t = start_writer(buf, data[: 5 * BOUND] + line + data[5 * BOUND :])
        first = await buf.aread(2 * BOUND)
        exactly = await buf.areadexactly(2 * BOUND)
        target = bytearray(BOUND)
        n = await buf.areadinto(target)
        got_line = await buf.areadline()
        rest = await buf.aread()
        t.join(20)
        return first + exactly + bytes(target[:n]), got_line, rest

    head, got_line, rest = asyncio.run(main())
    assert head == data[: 5 * BOUND]
    assert got_line == line
    assert rest == data[5 * BOUND :]


def test_awaitable_read_all_of_a_failed_body_keeps_the_bytes():
    buf = bounded()
    data = body(3 * BOUND)

    async def main():
        t = start_writer(buf, data, end="abort")
        with pytest.raises(BodyAborted):
            await buf.aread()
        t.join(20)
        return await buf.aread1(-1)

    assert asyncio.run(main()) == data
