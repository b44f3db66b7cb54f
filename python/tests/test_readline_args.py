"""``readline``'s arguments, through both of its paths: the raw C method parses no argument,
``None`` and exact ``int`` positionals itself; every other call (keywords, ``bool``, objects
with ``__index__``, wrong types, too many arguments, ints beyond ``isize``) goes to PyO3's
function. Results and errors (types and messages) are those of PyO3's method, and a refused
call consumes nothing."""

from __future__ import annotations

import inspect

import pytest

from py_buffer import BodyAborted, PyBuffer

LINES = [b"first line\n", b"second\n", b"x" * 100 + b"\n", b"no newline at the end"]
BODY = b"".join(LINES)


def ready(data: bytes = BODY, chunk: int = 7, **kw) -> PyBuffer:
    """A complete body written in `chunk`-byte writes (so lines cross blocks)."""
    buf = PyBuffer(**kw)
    w = buf.writer()
    for i in range(0, len(data), chunk):
        w.write(data[i : i + chunk])
    w.close()
    return buf


class Index:
    def __init__(self, n: int) -> None:
        self.n = n

    def __index__(self) -> int:
        return self.n


@pytest.mark.parametrize(
    "args, kwargs, expected",
    [
        ((), {}, b"first line\n"),
        ((None,), {}, b"first line\n"),
        ((-1,), {}, b"first line\n"),
        ((0,), {}, b""),
        ((5,), {}, b"first"),
        ((11,), {}, b"first line\n"),
        ((12,), {}, b"first line\n"),
        ((2**63 - 1,), {}, b"first line\n"),
        ((True,), {}, b"f"),
        ((Index(3),), {}, b"fir"),
        ((), {"size": 4}, b"firs"),
        ((), {"size": None}, b"first line\n"),
        ((), {"size": -1}, b"first line\n"),
    ],
    ids=repr,
)
def test_accepted_call_forms(args, kwargs, expected):
    buf = ready(chunk=1 << 16)
    assert buf.readline(*args, **kwargs) == expected
    assert buf.read() == BODY[len(expected) :]


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        ((-2,), {}, ValueError, "size must be a non-negative integer, -1 or None, not -2"),
        (
            (-(2**62),),
            {},
            ValueError,
            "size must be a non-negative integer, -1 or None, not -4611686018427387904",
        ),
        ((), {"size": -3}, ValueError, "size must be a non-negative integer, -1 or None, not -3"),
        ((Index(-5),), {}, ValueError, "size must be a non-negative integer, -1 or None, not -5"),
        (("x",), {}, TypeError, "'str' object cannot be interpreted as an integer"),
        ((1.5,), {}, TypeError, "'float' object cannot be interpreted as an integer"),
        ((b"1",), {}, TypeError, "'bytes' object cannot be interpreted as an integer"),
        ((2**63,), {}, OverflowError, "Python int too large to convert to C long"),
        ((2**70,), {}, OverflowError, "Python int too large to convert to C long"),
        ((-(2**70),), {}, OverflowError, "Python int too large to convert to C long"),
        (
            (1, 2),
            {},
            TypeError,
            "PyBuffer.readline() takes from 0 to 1 positional arguments but 2 were given",
        ),
        ((), {"foo": 1}, TypeError, "PyBuffer.readline() got an unexpected keyword argument 'foo'"),
        ((1,), {"size": 2}, TypeError, "PyBuffer.readline() got multiple values for argument 'size'"),
    ],
    ids=repr,
)
def test_refused_call_forms_raise_and_consume_nothing(args, kwargs, error, message):
    buf = ready()
    with pytest.raises(error) as info:
        buf.readline(*args, **kwargs)
    assert type(info.value) is error
    assert str(info.value) == message
    assert buf.read() == BODY


def test_the_descriptor_checks_its_object():
    with pytest.raises(TypeError) as info:
        PyBuffer.readline(1)  # type: ignore[arg-type]
    assert str(info.value) == (
        "descriptor 'readline' for 'py_buffer._native.PyBuffer' objects doesn't apply to a "
        "'int' object"
    )
    assert PyBuffer.readline(ready()) == LINES[0]


def test_signature_and_doc_are_pyo3s():
    assert str(inspect.signature(PyBuffer.readline)) == "(self, /, size=-1)"
    assert PyBuffer.readline.__doc__ == (
        "Reads one line (through `\\n`), at most `size` bytes; the rest of the body at EOF."
    )
    assert PyBuffer.readline.__name__ == "readline"
    assert PyBuffer.readline.__qualname__ == "PyBuffer.readline"


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 16])
@pytest.mark.parametrize("bounded", [False, True])
def test_positional_and_keyword_sizes_read_the_same(chunk, bounded):
    """The raw path (positional) and PyO3's (keyword) against each other, lines crossing
    blocks or not, bounded or not."""
    sizes = [None, -1, 0, 1, 2, 5, 10, 11, 12, 99, 100, 101, 1000]
    kw = {"max_buffered": 1 << 20} if bounded else {}
    positional, keyword = ready(chunk=chunk, **kw), ready(chunk=chunk, **kw)
    for i in range(3 * len(sizes)):
        size = sizes[i % len(sizes)]
        got = positional.readline(size)
        assert got == keyword.readline(size=size), (i, size)
    assert positional.read() == keyword.read()


def test_every_line_then_empty_at_eof():
    buf = ready()
    assert [buf.readline() for _ in LINES] == LINES
    assert buf.readline() == b""
    assert buf.readline(5) == b""
    assert buf.readline(None) == b""


def test_a_failed_body_raises_through_the_raw_path_and_keeps_its_bytes():
    buf = PyBuffer()
    w = buf.writer()
    w.write(b"whole\npart")
    w.abort("client gone")
    assert buf.readline() == b"whole\n"
    for call in (lambda: buf.readline(), lambda: buf.readline(100), lambda: buf.readline(None)):
        with pytest.raises(BodyAborted) as info:
            call()
        assert str(info.value) == "body aborted: client gone"
    assert buf.readline(4) == b"part", "a read the failed body can satisfy still succeeds"


def test_a_timeout_through_the_raw_path():
    buf = PyBuffer()
    buf.settimeout(0.01)
    with pytest.raises(TimeoutError) as info:
        buf.readline()
    assert str(info.value) == "readline() timed out"
