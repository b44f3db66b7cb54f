"""Writer argument checks and partial-write counts: a bad timeout
raises before anything is written; every exception raised after part of a bounded write went
in carries how much as ``characters_written`` (TimeoutError, BrokenPipeError, BodyAborted,
and KeyboardInterrupt from a signal handler)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from py_buffer import BodyAborted, PyBuffer


@pytest.mark.parametrize("timeout", [-1, -0.5, math.nan])
def test_a_bad_timeout_writes_nothing(timeout):
    b = PyBuffer()
    w = b.writer()
    with pytest.raises(ValueError):
        w.write(b"fits", timeout=timeout)
    with pytest.raises(ValueError):
        w.write(b"x" * 10_000, timeout=timeout)  # the adopted-bytes path too
    assert len(b) == 0


def test_a_timed_out_write_says_how_much_went_in():
    b = PyBuffer(max_buffered=4)
    w = b.writer()
    with pytest.raises(TimeoutError) as info:
        w.write(b"abcdefgh", timeout=0)
    assert info.value.characters_written == 4
    assert b.read(4) == b"abcd"


def _blocked_writer(b: PyBuffer, data: bytes):
    w = b.writer()
    errors = []

    def run() -> None:
        try:
            w.write(data, timeout=20)
        except BaseException as e:  # checked by the test
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    return w, t, errors


def test_broken_pipe_after_a_partial_write_carries_the_count():
    b = PyBuffer(max_buffered=4)
    w, t, errors = _blocked_writer(b, b"abcdefgh")
    # The writer puts in 4 bytes and waits for room; wait for those 4 to be there.
    b.settimeout(20)
    assert b.peek(4) == b"abcd"
    b.close()
    t.join(20)
    assert isinstance(errors[0], BrokenPipeError)
    assert errors[0].characters_written == 4


def test_body_aborted_after_a_partial_write_carries_the_count():
    b = PyBuffer(max_buffered=4)
    w, t, errors = _blocked_writer(b, bytes(range(10)) * 1000)
    b.settimeout(20)
    assert b.read(6) == bytes(range(6))  # 4 + 2 more went in
    assert b.peek() != b""
    w.abort("stop")
    t.join(20)
    assert isinstance(errors[0], BodyAborted)
    written = errors[0].characters_written
    assert written >= 6
    assert len(b.read1()) == written - 6


def test_keyboard_interrupt_after_a_partial_write_carries_the_count():
    script = textwrap.dedent(
        """
        import os, signal, threading
        import py_buffer

        buf = py_buffer.PyBuffer(max_buffered=4)
        w = buf.writer()

        def interrupt():
            buf.settimeout(20)
            buf.peek(4)  # the main thread wrote its first 4 bytes and waits for room
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt, daemon=True).start()
        try:
            w.write(b"abcdefgh")
        except KeyboardInterrupt as e:
            print("KeyboardInterrupt", e.characters_written)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        cwd="/",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "KeyboardInterrupt 4"
