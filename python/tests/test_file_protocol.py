"""File-object details: weak references, ``settimeout(inf)``,
``seek`` with a huge whence, ``flush()``, and wrapping a buffer in ``io.TextIOWrapper`` and
``io.BufferedReader``."""

from __future__ import annotations

import gc
import io
import math
import threading
import weakref

import pytest

from py_buffer import PyBuffer


def closed_buffer(data: bytes) -> PyBuffer:
    b = PyBuffer()
    w = b.writer()
    w.write(data)
    w.close()
    return b


def test_buffers_and_writers_are_weak_referenceable():
    b = PyBuffer()
    w = b.writer()
    rb, rw = weakref.ref(b), weakref.ref(w)
    assert rb() is b and rw() is w
    del b, w
    gc.collect()
    assert rb() is None and rw() is None


@pytest.mark.parametrize("value", [math.inf, 1e11, 1e300, 0.25, 0])
def test_gettimeout_returns_what_was_set(value):
    b = PyBuffer()
    b.settimeout(value)
    assert b.gettimeout() == value
    b.settimeout(None)
    assert b.gettimeout() is None


def test_an_infinite_timeout_waits_for_the_data():
    b = PyBuffer()
    b.settimeout(math.inf)
    w = b.writer()
    threading.Thread(target=lambda: (w.write(b"late"), w.close()), daemon=True).start()
    assert b.read() == b"late"


@pytest.mark.parametrize("whence", [3, -1, 2**31, 2**63, 2**100])
def test_seek_with_a_bad_whence_is_a_value_error(whence):
    b = closed_buffer(b"abc")
    with pytest.raises(ValueError, match="invalid whence"):
        b.seek(0, whence)
    with pytest.raises(TypeError):
        b.seek(0, "1")  # type: ignore[arg-type]
    assert b.seek(1, 0) == 1 and b.seek(1, 1) == 2 and b.seek(0) == 0


def test_flush_does_nothing():
    b = closed_buffer(b"abc")
    assert b.flush() is None
    assert b.read() == b"abc"


def test_text_io_wrapper_reads_text_and_lines():
    text = "héllo wörld\nzweite Zeile\n€ three\n" * 50
    b = closed_buffer(text.encode("utf-8"))
    with io.TextIOWrapper(b, encoding="utf-8") as t:
        assert t.readline() == "héllo wörld\n"
        assert t.read(12) == "zweite Zeile"
        rest = t.read()
    assert rest == text[len("héllo wörld\nzweite Zeile"):]
    assert b.closed


def test_text_io_wrapper_iterates_lines_from_a_producer_thread():
    b = PyBuffer(max_buffered=64)
    w = b.writer()
    lines = [f"line {i} {'x' * (i % 90)}\n" for i in range(300)]
    t = threading.Thread(target=lambda: (w.write("".join(lines).encode()), w.close()), daemon=True)
    t.start()
    b.settimeout(20)
    assert list(io.TextIOWrapper(b, encoding="ascii", newline="")) == lines
    t.join(20)


def test_buffered_reader_reads_bytes_and_lines():
    data = b"".join(b"row %d\n" % i for i in range(5000))
    b = closed_buffer(data)
    r = io.BufferedReader(b, buffer_size=1024)  # type: ignore[arg-type]
    assert r.readline() == b"row 0\n"
    assert r.read(6) == b"row 1\n"
    assert r.peek(1)[:1] == b"r"
    assert r.readlines(10) == [b"row 2\n", b"row 3\n"]
    assert r.read() == data[len(b"row 0\nrow 1\nrow 2\nrow 3\n"):]
    r.close()
    assert b.closed


def test_text_over_buffered_reader():
    data = "ä\nb\n".encode() * 1000
    t = io.TextIOWrapper(io.BufferedReader(closed_buffer(data)), encoding="utf-8")  # type: ignore[arg-type]
    assert t.read() == data.decode()
