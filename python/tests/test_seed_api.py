"""Every example and behaviour of the seed's Buffer API description (the seed API of docs/contract.md)."""

from __future__ import annotations

import asyncio
import io

import pytest

import py_buffer
from py_buffer import PyBuffer

from conftest import Producer


def closed_with(data: bytes, content_length: bool = False) -> PyBuffer:
    buf = PyBuffer(len(data) if content_length else None)
    w = buf.writer()
    w.write(data)
    w.close()
    return buf


def test_public_names():
    assert set(py_buffer.__all__) == {"BodyAborted", "BodyTruncated", "BufferWriter", "PyBuffer", "__version__"}
    assert isinstance(py_buffer.__version__, str) and py_buffer.__version__.count(".") == 2
    assert issubclass(py_buffer.BodyTruncated, OSError)
    assert issubclass(py_buffer.BodyAborted, OSError)
    assert issubclass(PyBuffer, io.BufferedIOBase)
    assert isinstance(PyBuffer(), io.IOBase)


def test_acceptance_one_liner():
    b = PyBuffer.from_bytes(b"a\nb\n")
    assert list(b) == [b"a\n", b"b\n"]


def test_chunks_then_close_read_all():
    # {ok, Buf} = py_buffer:new(), write chunk1, chunk2, close, then wsgi_input.read()
    buf = PyBuffer()
    w = buf.writer()
    assert w.write(b"chunk1") == 6
    w.write(b"chunk2")
    w.close()
    assert buf.read() == b"chunk1chunk2"
    assert buf.read() == b""


def test_known_content_length_reaches_eof_without_close():
    buf = PyBuffer(4096)
    w = buf.writer()
    w.write(b"x" * 4096)
    assert buf.at_eof() is False
    assert buf.read() == b"x" * 4096
    assert buf.at_eof() is True


def test_handle_request_examples():
    body = b"line one\nline two\nrest"
    assert closed_with(body).read() == body
    assert [line for line in closed_with(body)] == [b"line one\n", b"line two\n", b"rest"]
    buf = closed_with(body)
    assert buf.read(1024) == body
    assert buf.read(1024) == b""


def test_read_blocks_until_data_then_returns_immediately_when_present():
    buf = PyBuffer()
    w = buf.writer()
    w.write(b"abc")
    assert buf.read(3) == b"abc"
    producer = Producer(w, [b"def"], end="close")
    producer.start()
    assert buf.read(3) == b"def"
    producer.join_ok()
    assert buf.read(3) == b""


def test_read_nonblock_and_readable_amount():
    buf = PyBuffer()
    w = buf.writer()
    assert buf.read_nonblock(1024) == b""
    assert buf.read_nonblock() == b""
    w.write(b"0123456789")
    available = buf.readable_amount()
    assert available == 10
    assert buf.read_nonblock(4) == b"0123"
    assert buf.read_nonblock(available) == b"456789"
    w.write(b"xy")
    assert buf.read_nonblock() == b"xy"
    w.close()
    assert buf.read_nonblock() == b""
    assert buf.at_eof()


def test_at_eof_needs_eof_and_everything_read():
    buf = PyBuffer()
    w = buf.writer()
    w.write(b"ab")
    assert not buf.at_eof()
    w.close()
    assert not buf.at_eof()
    buf.read(1)
    assert not buf.at_eof()
    buf.read(1)
    assert buf.at_eof()


def test_async_polling_recipe_from_the_seed():
    buf = PyBuffer()
    w = buf.writer()

    async def read_buffer_async(b: PyBuffer) -> bytes:
        chunks = []
        while not b.at_eof():
            if b.readable_amount() > 0:
                chunks.append(b.read_nonblock(4096))
            else:
                w.write(b"more;")
                if len(chunks) >= 3:
                    w.close()
                await asyncio.sleep(0)
        return b"".join(chunks)

    assert asyncio.run(read_buffer_async(buf)) == b"more;" * 4


def test_readline_and_readlines():
    buf = closed_with(b"line1\nline2\nline3")
    assert buf.readline() == b"line1\n"
    assert buf.readlines() == [b"line2\n", b"line3"]
    assert buf.readline() == b""
    assert buf.readlines() == []


def test_readlines_hint_stops_after_about_hint_bytes():
    buf = closed_with(b"aaaa\nbbbb\ncccc\n")
    assert buf.readlines(6) == [b"aaaa\n", b"bbbb\n"]
    assert buf.readlines(1) == [b"cccc\n"]


def test_seek_examples():
    buf = closed_with(b"0123456789abcdef")
    buf.read(12)
    assert buf.seek(0) == 0
    assert buf.read(2) == b"01"
    assert buf.seek(10, 1) == 12
    assert buf.read(1) == b"c"
    assert buf.seek(-5, 2) == 11
    assert buf.read() == b"bcdef"
    assert buf.tell() == 16


def test_seek_limitations():
    buf = PyBuffer()
    w = buf.writer()
    w.write(b"0123")
    with pytest.raises(ValueError, match="only 4 bytes were written"):
        buf.seek(5)
    with pytest.raises(io.UnsupportedOperation, match="before EOF"):
        buf.seek(-1, 2)
    assert buf.tell() == 0
    w.close()
    assert buf.seek(-1, 2) == 3


def test_find_examples():
    body = b"--boundary\r\nheaders\r\n\r\ndata\n--boundary--"
    buf = closed_with(body)
    assert buf.find(b"\n") == body.find(b"\n")
    assert buf.find(b"boundary") == 2
    assert buf.find(b"--boundary--") == body.find(b"--boundary--")
    assert buf.find(b"nope") == -1
    assert buf.tell() == 0, "find consumes nothing"


def test_buffer_protocol_properties_and_example():
    buf = closed_with(b"0123456789abcdefghij")
    mv = memoryview(buf)
    assert mv.readonly is True
    assert mv.ndim == 1
    assert mv.format == "B"
    assert mv.itemsize == 1
    assert mv[0] == ord("0")
    assert bytes(mv[10:20]) == b"abcdefghij"
    mv.release()


def test_multipart_parse_recipe_with_find_and_memoryview():
    boundary = b"--boundary"
    body = boundary + b"\r\nContent-Type: text/plain\r\n\r\nhello" + b"\r\n" + boundary + b"--"
    buf = closed_with(body)
    mv = memoryview(buf)
    boundary_pos = buf.find(boundary, 1)
    assert bytes(mv[:boundary_pos]) == body[:boundary_pos]
    mv.release()
    assert buf.readline() == boundary + b"\r\n"
    headers = {}
    while True:
        line = buf.readline()
        if line == b"\r\n":
            break
        name, value = line.split(b":", 1)
        headers[name.strip()] = value.strip()
    assert headers == {b"Content-Type": b"text/plain"}
    end = buf.find(b"\r\n" + boundary)
    assert buf.read(end) == b"hello"


def test_iteration_is_readline_until_eof():
    buf = closed_with(b"a\n\nb")
    assert iter(buf) is buf
    assert next(buf) == b"a\n"
    assert next(buf) == b"\n"
    assert next(buf) == b"b"
    with pytest.raises(StopIteration):
        next(buf)


def test_flags_len_and_close():
    buf = PyBuffer()
    w = buf.writer()
    assert buf.readable() is True
    assert buf.writable() is False
    assert buf.seekable() is True
    assert buf.closed is False
    w.write(b"12345")
    buf.read(2)
    assert len(buf) == 3
    buf.close()
    assert buf.closed is True
    with pytest.raises(BrokenPipeError):
        w.write(b"more")
    assert buf.read() == b"345", "reads after close return what remains"
    assert buf.read() == b""


def test_write_after_close_fails():
    buf = PyBuffer()
    w = buf.writer()
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.write(b"x")
    assert buf.read() == b""


def test_the_seeds_test_helper_makes_an_open_buffer_holding_its_data():
    # PyBuffer._test_create(data, content_length=-1), which the seed's own test suites use.
    buf = PyBuffer._test_create(b"hello world")
    assert (buf.readable_amount(), buf.at_eof(), buf.closed) == (11, False, False)
    assert buf.read_nonblock(5) == b"hello"
    assert buf.find(b"world") == 1
    assert bytes(memoryview(buf)) == b" world"
    buf.close()
    assert buf.closed is True
    assert buf.read() == b" world"
    assert buf.read() == b""
    assert buf.at_eof() is True


def test_the_seeds_test_helper_takes_no_data_or_a_content_length():
    empty = PyBuffer._test_create()
    assert (empty.readable_amount(), empty.at_eof()) == (0, False)
    empty.close()
    assert (empty.read(), empty.readlines()) == (b"", [])
    whole = PyBuffer._test_create(bytearray(b"a\nb\n"), 4)
    assert whole.at_eof() is False
    assert list(whole) == [b"a\n", b"b\n"]
    assert whole.at_eof() is True
    assert PyBuffer._test_create(b"ab", -1).read_nonblock() == b"ab"


def test_the_seeds_test_helper_rejects_what_a_write_rejects():
    with pytest.raises(ValueError, match="content length"):
        PyBuffer._test_create(b"abcd", 3)
    with pytest.raises(TypeError, match="data"):
        PyBuffer._test_create("text")
