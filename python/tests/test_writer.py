"""BufferWriter: bytes-like inputs, bounded mode (waiting writes, big writes, try_write,
timeouts), and wake-ups of a blocked writer."""

from __future__ import annotations

import array
import threading
import time

import pytest

from py_buffer import BodyAborted, PyBuffer


def test_write_accepts_any_bytes_like():
    buf = PyBuffer()
    w = buf.writer()
    assert w.write(b"ab") == 2
    assert w.write(bytearray(b"cd")) == 2
    assert w.write(memoryview(b"xefx")[1:3]) == 2
    assert w.write(array.array("B", [ord("g")])) == 1
    assert w.write(b"") == 0
    w.close()
    assert buf.read() == b"abcdefg"


def test_non_contiguous_input_is_refused():
    w = PyBuffer().writer()
    with pytest.raises(TypeError, match="C-contiguous"):
        w.write(memoryview(b"abcdef")[::2])


def test_try_write_reports_how_much_it_took_in_bounded_mode():
    buf = PyBuffer(max_buffered=10)
    w = buf.writer()
    assert w.try_write(b"0123456") == 7
    assert w.try_write(b"789abc") == 3
    assert w.try_write(b"x") == 0
    assert buf.read(4) == b"0123"
    assert w.try_write(b"defghi") == 4
    assert buf.read(10) == b"456789defg"


def test_bounded_write_blocks_until_the_reader_drains():
    buf = PyBuffer(max_buffered=8)
    w = buf.writer()
    w.write(b"12345678")
    done = threading.Event()

    def produce():
        w.write(b"abcd")
        done.set()

    t = threading.Thread(target=produce)
    t.start()
    time.sleep(0.02)  # lets the writer park; the result does not depend on it
    assert not done.is_set(), "the writer waits for room"
    assert buf.read(6) == b"123456"
    t.join(10)
    assert done.is_set()
    assert buf.read(6) == b"78abcd"


def test_a_write_larger_than_the_bound_completes():
    buf = PyBuffer(max_buffered=1000)
    w = buf.writer()
    data = bytes(range(256)) * 1000

    def produce():
        assert w.write(data) == len(data)
        w.close()

    t = threading.Thread(target=produce)
    t.start()
    got = bytearray()
    while chunk := buf.read(777):
        assert buf.readable_amount() <= 1000
        got += chunk
    t.join(10)
    assert bytes(got) == data


def test_write_timeout_reports_the_prefix_written():
    buf = PyBuffer(max_buffered=4)
    w = buf.writer()
    with pytest.raises(TimeoutError) as info:
        w.write(b"abcdefgh", timeout=0.05)
    assert info.value.characters_written == 4
    assert buf.read(4) == b"abcd"
    assert w.write(b"efgh", timeout=0) == 4


def test_wait_writable():
    buf = PyBuffer(max_buffered=2)
    w = buf.writer()
    w.wait_writable(timeout=0)
    w.write(b"ab")
    with pytest.raises(TimeoutError):
        w.wait_writable(timeout=0.02)
    buf.read(1)
    w.wait_writable(timeout=0)


def test_blocked_writer_is_woken_by_the_readers_close():
    buf = PyBuffer(max_buffered=2)
    w = buf.writer()
    w.write(b"ab")
    errors = []
    t = threading.Thread(target=lambda: errors.append(pytest.raises(BrokenPipeError, w.write, b"cd")))
    t.start()
    time.sleep(0.02)  # lets the writer park; the result does not depend on it
    buf.close()
    t.join(10)
    assert not t.is_alive() and len(errors) == 1


def test_blocked_writer_is_woken_by_abort_from_another_handle():
    buf = PyBuffer(max_buffered=2)
    w = buf.writer()
    other = buf.writer()
    w.write(b"ab")
    result = []

    def produce():
        try:
            w.write(b"cd")
        except BodyAborted as e:
            result.append(str(e))

    t = threading.Thread(target=produce)
    t.start()
    other.abort("gone")
    t.join(10)
    assert result == ["body aborted: gone"]


def test_writes_grow_while_views_exist_and_views_stay_unchanged():
    buf = PyBuffer()
    w = buf.writer()
    w.write(b"first")
    view = memoryview(buf)
    assert bytes(view) == b"first"
    for i in range(200):
        w.write(bytes([i % 256]) * 4096)  # grows through many new blocks
    assert bytes(view) == b"first", "a view shows the bytes as they were at export"
    second = memoryview(buf)
    assert len(second) == 5 + 200 * 4096
    assert bytes(second[:5]) == b"first"
    buf.read(3)
    third = memoryview(buf)
    assert bytes(third[:2]) == b"st"
    w.close()
    assert bytes(view) == b"first"
    view.release()
    second.release()
    third.release()


def test_views_survive_the_buffer_and_bounded_recycling():
    buf = PyBuffer(max_buffered=64 * 1024)
    w = buf.writer()
    w.write(b"a" * 60000)
    view = memoryview(buf)
    buf.read(60000)
    for _ in range(10):
        w.write(b"b" * 60000)
        buf.read(60000)
    del buf, w
    assert bytes(view) == b"a" * 60000
    view.release()


def test_writable_export_is_refused():
    buf = PyBuffer.from_bytes(b"abc")
    with pytest.raises(TypeError):
        buf.readinto(memoryview(buf))
    assert bytes(memoryview(PyBuffer())) == b""
