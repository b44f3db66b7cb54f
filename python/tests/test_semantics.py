"""Contract §3.2 rules (docs/contract.md) and their error cases: exact sizes, exact types, failed bodies, bad
arguments, seeking, the buffer protocol, and io.BufferedIOBase behaviour."""

from __future__ import annotations

import array
import io

import pytest

from py_buffer import BodyAborted, BodyTruncated, PyBuffer

from conftest import Producer


def writer_with(data: bytes = b"", **kw):
    buf = PyBuffer(**kw)
    w = buf.writer()
    if data:
        w.write(data)
    return buf, w


# --- read sizes -------------------------------------------------------------------------


def test_read_n_returns_exactly_n_across_many_writes():
    buf, w = writer_with()
    producer = Producer(w, [b"a", b"bc", b"def", b"ghij", b"k"])
    producer.start()
    assert buf.read(7) == b"abcdefg"
    assert buf.read(7) == b"hijk", "short only at EOF"
    assert buf.read(7) == b""
    producer.join_ok()


def test_read_all_waits_for_eof_on_chunked_bodies():
    buf, w = writer_with()
    producer = Producer(w, [b"x" * 1000] * 50)
    producer.start()
    assert buf.read() == b"x" * 50000
    assert buf.read(-1) == b""
    assert buf.read(None) == b""
    producer.join_ok()


def test_read1_returns_what_is_there_at_least_one_byte():
    buf, w = writer_with(b"abc")
    assert buf.read1(10) == b"abc"
    w.write(b"defgh")
    assert buf.read1(2) == b"de"
    assert buf.read1() == b"fgh"
    assert buf.read1(0) == b""
    w.close()
    assert buf.read1(5) == b""


def test_read_zero_never_waits():
    buf, _w = writer_with()
    assert buf.read(0) == b""
    assert buf.readline(0) == b""


def test_every_result_is_exact_bytes():
    buf, w = writer_with(b"l1\nl2\nl3\nrest", content_length=13)
    results = [
        buf.peek(1),
        buf.read(1),
        buf.read1(1),
        buf.read_nonblock(1),
        buf.readline(),
        next(buf),
        *buf.readlines(),
        buf.read(),
    ]
    assert results == [b"l", b"l", b"1", b"\n", b"l2\n", b"l3\n", b"rest", b""]
    assert all(type(r) is bytes for r in results)


def test_readline_honours_size():
    buf, w = writer_with(b"abcdef\nxy\n")
    w.close()
    assert buf.readline(3) == b"abc"
    assert buf.readline(4) == b"def\n"
    assert buf.readline(100) == b"xy\n"
    assert buf.readline(5) == b""


def test_readline_waits_for_the_newline_or_size():
    buf, w = writer_with(b"part")
    producer = Producer(w, [b"ial", b" line\nnext"])
    producer.start()
    assert buf.readline() == b"partial line\n"
    assert buf.readline() == b"next"
    producer.join_ok()


def test_readlines_hint_semantics_match_bytesio():
    data = b"a\nbb\nccc\ndddd\n\neeeee"
    for hint in [-5, -1, 0, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 100]:
        buf = PyBuffer.from_bytes(data)
        model = io.BytesIO(data)
        assert buf.readlines(hint) == model.readlines(hint), hint
        assert buf.read() == model.read()


# --- failed bodies ------------------------------------------------------------------------


def test_truncated_body_returns_every_byte_then_raises():
    buf, w = writer_with(b"line1\npart", content_length=100)
    w.close()
    assert buf.readline() == b"line1\n"
    with pytest.raises(BodyTruncated, match="expected 100 bytes, got 10"):
        buf.read()
    with pytest.raises(BodyTruncated):
        buf.read(5)
    with pytest.raises(BodyTruncated):
        buf.readline()
    assert buf.tell() == 6, "a failing read consumes nothing"
    assert buf.read1(2) == b"pa"
    assert buf.read_nonblock() == b"rt"
    for call in (buf.read, buf.read1, buf.read_nonblock, buf.readline, buf.readlines, buf.peek):
        with pytest.raises(BodyTruncated):
            call()
    with pytest.raises(BodyTruncated):
        next(buf)
    assert buf.at_eof()


def test_aborted_body_raises_after_the_bytes_that_arrived():
    buf, w = writer_with(b"abc")
    w.abort("client went away")
    with pytest.raises(BodyAborted, match="client went away"):
        buf.read()
    with pytest.raises(BodyAborted):
        buf.read(4)
    assert buf.read(3) == b"abc"
    with pytest.raises(BodyAborted) as info:
        buf.read(1)
    assert isinstance(info.value, OSError)
    with pytest.raises(BodyAborted):
        w.write(b"x")  # a write after abort fails too


def test_abort_without_reason_and_first_reason_wins():
    buf, w = writer_with()
    w.abort()
    w.abort("second")
    with pytest.raises(BodyAborted, match="aborted by the producer"):
        buf.read()


def test_dropping_the_taken_writer_aborts():
    buf, w = writer_with(b"ab")
    del w
    assert buf.read(2) == b"ab"
    with pytest.raises(BodyAborted, match="writer gone"):
        buf.read(1)


def test_untaken_writer_never_aborts_and_later_writers_are_new_handles():
    buf = PyBuffer()
    assert buf.read_nonblock() == b""
    w1 = buf.writer()
    w2 = buf.writer()
    w1.write(b"1")
    del w1
    w2.write(b"2")
    w2.close()
    assert buf.read() == b"12"


def test_writer_context_manager_closes_or_aborts():
    buf = PyBuffer()
    with buf.writer() as w:
        w.write(b"ok")
    assert buf.read() == b"ok"
    buf = PyBuffer()
    with pytest.raises(RuntimeError):
        with buf.writer() as w:
            w.write(b"half")
            raise RuntimeError("producer failed")
    assert buf.read(4) == b"half"
    with pytest.raises(BodyAborted, match="producer failed"):
        buf.read(1)


def test_content_length_overflow_writes_nothing():
    buf, w = writer_with(b"ab", content_length=3)
    with pytest.raises(ValueError, match="exceed the content length"):
        w.write(b"cd")
    w.write(b"c")
    assert buf.read() == b"abc"


# --- bad arguments ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["read", "read1", "read_nonblock", "readline"])
def test_negative_sizes_other_than_minus_one_are_refused(method):
    buf = PyBuffer.from_bytes(b"data")
    with pytest.raises(ValueError, match="non-negative integer, -1 or None, not -2"):
        getattr(buf, method)(-2)
    assert buf.tell() == 0


@pytest.mark.parametrize("method", ["read", "read1", "readline", "read_nonblock"])
def test_non_integer_sizes_are_type_errors(method):
    buf = PyBuffer.from_bytes(b"data")
    with pytest.raises(TypeError):
        getattr(buf, method)("3")
    with pytest.raises(TypeError):
        getattr(buf, method)(1.5)


def test_str_where_bytes_are_needed():
    buf, w = writer_with()
    with pytest.raises(TypeError, match="bytes-like object, not 'str'"):
        w.write("text")
    with pytest.raises(TypeError, match="bytes-like object, not 'str'"):
        buf.find("x")
    with pytest.raises(TypeError, match="bytes-like object, not 'str'"):
        PyBuffer.from_bytes("text")
    with pytest.raises(TypeError, match="bytes-like object, not 'int'"):
        w.write(5)
    with pytest.raises(TypeError, match="read-write"):
        buf.readinto(b"immutable")
    with pytest.raises(TypeError, match="read-write"):
        buf.readinto("text")


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="content_length must be a non-negative"):
        PyBuffer(-1)
    with pytest.raises(ValueError, match="max_buffered must be a positive"):
        PyBuffer(max_buffered=0)
    with pytest.raises(TypeError):
        PyBuffer("10")
    with pytest.raises(TypeError):
        PyBuffer(10, 20)  # max_buffered is keyword-only


def test_bad_timeouts():
    buf = PyBuffer()
    with pytest.raises(ValueError, match="timeout must be"):
        buf.settimeout(-1)
    with pytest.raises(ValueError, match="timeout must be"):
        buf.settimeout(float("nan"))
    assert buf.gettimeout() is None
    buf.settimeout(2.5)
    assert buf.gettimeout() == 2.5
    buf.settimeout(None)
    assert buf.gettimeout() is None


def test_bad_seeks():
    buf, w = writer_with(b"0123456789")
    buf.read(4)
    with pytest.raises(ValueError, match="invalid whence \\(3, should be 0, 1 or 2\\)"):
        buf.seek(0, 3)
    with pytest.raises(ValueError, match="negative seek position -1"):
        buf.seek(-1)
    with pytest.raises(ValueError, match="cannot seek to -1"):
        buf.seek(-5, 1)
    with pytest.raises(ValueError, match="cannot seek to 11: only 10 bytes were written"):
        buf.seek(11)
    with pytest.raises(ValueError, match="cannot seek to 11"):
        buf.seek(7, 1)
    with pytest.raises(io.UnsupportedOperation, match="before EOF"):
        buf.seek(0, 2)
    assert buf.tell() == 4, "a refused seek does not move"
    w.close()
    assert buf.seek(0, 2) == 10
    with pytest.raises(ValueError, match="cannot seek to 11"):
        buf.seek(1, 2)


def test_seek_before_the_retained_window_in_bounded_mode():
    buf = PyBuffer(max_buffered=100_000)
    w = buf.writer()
    for _ in range(30):  # 300 kB through a 100 kB bound: consumed blocks are released
        w.write(bytearray(b"a" * 10_000))
        assert buf.read(10_000) == b"a" * 10_000
    assert buf.seek(-100, 1) == 299_900, "the current block is still held"
    with pytest.raises(io.UnsupportedOperation, match="first retained byte"):
        buf.seek(0)
    assert buf.tell() == 299_900


def test_seek_back_then_reread():
    buf, w = writer_with(b"hello world")
    assert buf.read(5) == b"hello"
    assert buf.seek(0) == 0
    assert buf.read(11) == b"hello world"
    assert buf.seek(-5, 1) == 6
    assert buf.read(5) == b"world"


def test_find_start_end_follow_slice_semantics():
    data = b"abcabcabc--x"
    buf = PyBuffer.from_bytes(b"zz" + data)
    buf.read(2)
    for sub in [b"a", b"abc", b"c--", b"", b"x", b"zz", b"abcabcabc--x", b"abcabcabc--xy"]:
        for start in [0, 1, 3, 4, 11, 12, 13, -1, -3, -20]:
            for end in [None, 0, 3, 6, 11, 12, 50, -1, -4, -20]:
                assert buf.find(sub, start, end) == data.find(sub, start, end), (sub, start, end)
    assert buf.find(memoryview(b"bca")) == 1
    assert buf.find(bytearray(b"--")) == 9


# --- readinto / peek / buffered io --------------------------------------------------------


def test_readinto_fills_the_whole_target_unless_eof():
    buf, w = writer_with()
    producer = Producer(w, [b"ab", b"cd", b"efg"])
    producer.start()
    target = bytearray(4)
    assert buf.readinto(target) == 4
    assert target == b"abcd"
    assert buf.readinto(target) == 3
    assert target == b"efgd"
    assert buf.readinto(target) == 0
    producer.join_ok()


def test_readinto_accepts_writable_buffers_of_any_kind():
    buf = PyBuffer.from_bytes(b"0123456789")
    arr = array.array("b", bytes(4))
    assert buf.readinto(arr) == 4
    assert arr.tobytes() == b"0123"
    mv = memoryview(bytearray(3))
    assert buf.readinto1(mv) == 3
    assert mv.tobytes() == b"456"
    assert buf.readinto(bytearray()) == 0


def test_readinto1_returns_what_is_there():
    buf, w = writer_with(b"abc")
    target = bytearray(10)
    assert buf.readinto1(target) == 3
    assert target[:3] == b"abc"


def test_peek_does_not_consume():
    buf, w = writer_with(b"abcdef")
    assert buf.peek(3) == b"abc"
    assert buf.peek() == b"abcdef"
    assert buf.read(2) == b"ab"
    assert buf.peek(100) == b"cdef"
    assert buf.read(4) == b"cdef"
    w.close()
    assert buf.peek() == b""


def test_bufferedreader_style_interface():
    buf = PyBuffer.from_bytes(b"x")
    assert buf.isatty() is False
    with pytest.raises(io.UnsupportedOperation):
        buf.fileno()
    with buf as same:
        assert same is buf
        assert buf.read() == b"x"
    assert buf.closed


def test_wrapping_in_text_io():
    buf = PyBuffer.from_bytes("héllo\nwörld\n".encode())
    text = io.TextIOWrapper(buf, encoding="utf-8")  # type: ignore[arg-type]
    assert text.readlines() == ["héllo\n", "wörld\n"]


def test_repr_mentions_state():
    buf = PyBuffer.from_bytes(b"abc")
    assert repr(buf) == "<py_buffer.PyBuffer position=0 unread=3 ended=true closed=false>"
    assert repr(buf.writer()).startswith("<py_buffer.BufferWriter written=3")
