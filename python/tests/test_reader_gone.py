"""A writer whose reader is gone: dropping the last ``PyBuffer`` closes the
reading side, so writes raise ``BrokenPipeError`` instead of blocking forever (bounded) or
piling up bytes nothing can read (unbounded); a blocked writer wakes."""

from __future__ import annotations

import gc
import threading

import pytest

from py_buffer import PyBuffer


def test_bounded_write_after_the_reader_is_dropped_raises():
    b = PyBuffer(max_buffered=4)
    w = b.writer()
    del b
    gc.collect()
    with pytest.raises(BrokenPipeError):
        w.write(b"x" * 100, timeout=10)


def test_unbounded_write_after_the_reader_is_dropped_raises():
    b = PyBuffer()
    w = b.writer()
    w.write(b"abc")
    del b
    gc.collect()
    with pytest.raises(BrokenPipeError):
        w.write(b"x")
    with pytest.raises(BrokenPipeError):
        w.try_write(b"x")


def test_a_blocked_writer_wakes_when_the_reader_is_dropped():
    b = PyBuffer(max_buffered=4)
    w = b.writer()
    assert w.try_write(b"full") == 4
    errors = []
    parked = threading.Event()

    def write() -> None:
        parked.set()
        try:
            w.write(b"more", timeout=20)
        except BaseException as e:  # reported below
            errors.append(e)

    t = threading.Thread(target=write)
    t.start()
    parked.wait(10)
    del b
    gc.collect()
    t.join(20)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], BrokenPipeError)


def test_the_buffer_stays_open_while_any_reader_object_lives():
    b = PyBuffer()
    w = b.writer()
    alias = b
    del b
    gc.collect()
    assert w.write(b"ok") == 2
    assert alias.read(2) == b"ok"
