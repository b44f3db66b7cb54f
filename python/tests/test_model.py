"""A hypothesis state machine against io.BytesIO as the model.

The model holds the bytes written so far; reads are compared only when they cannot block
(enough data, or the body closed), so every step is deterministic. Random write splits,
reads of every kind, seeks (valid and refused), finds and readlines hints.
"""

from __future__ import annotations

import io

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from py_buffer import PyBuffer

chunks = st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b"\n"))
sizes = st.integers(min_value=0, max_value=60)
needles = st.sampled_from([b"\n", b"a", b"ab", b"\n\n", b"", b"xyz", b"\x01\n"]) | st.binary(max_size=4)


class BufferVsBytesIO(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.buf = PyBuffer()
        self.writer = self.buf.writer()
        self.model = io.BytesIO()
        self.closed = False

    # -- helpers --

    @property
    def written(self) -> int:
        return len(self.model.getbuffer())

    @property
    def pos(self) -> int:
        return self.model.tell()

    @property
    def avail(self) -> int:
        return self.written - self.pos

    def unread(self) -> bytes:
        return self.model.getvalue()[self.pos :]

    # -- producer --

    @precondition(lambda self: not self.closed)
    @rule(data=chunks)
    def write(self, data):
        assert self.writer.write(data) == len(data)
        pos = self.pos
        self.model.seek(0, io.SEEK_END)
        self.model.write(data)
        self.model.seek(pos)

    @precondition(lambda self: not self.closed)
    @rule()
    def close(self):
        self.writer.close()
        self.closed = True

    # -- reads that never block in the chosen state --

    @rule(n=sizes)
    def read_n(self, n):
        if n <= self.avail or self.closed:
            assert self.buf.read(n) == self.model.read(n)

    @precondition(lambda self: self.closed)
    @rule()
    def read_all(self):
        assert self.buf.read() == self.model.read()

    @rule(n=sizes)
    def read1(self, n):
        if self.avail > 0 or self.closed or n == 0:
            assert self.buf.read1(n) == self.model.read1(n)

    @rule(n=st.integers(min_value=-1, max_value=60))
    def read_nonblock(self, n):
        assert self.buf.read_nonblock(n) == self.model.read(n if n >= 0 else self.avail)

    @rule(n=st.integers(min_value=1, max_value=60))
    def readinto(self, n):
        if n <= self.avail or self.closed:
            mine, theirs = bytearray(n), bytearray(n)
            assert self.buf.readinto(mine) == self.model.readinto(theirs)
            assert mine == theirs

    @rule(limit=st.integers(min_value=-1, max_value=50))
    def readline(self, limit):
        window = self.unread() if limit < 0 else self.unread()[:limit]
        if b"\n" in window or self.closed or (limit >= 0 and self.avail >= limit):
            assert self.buf.readline(limit) == self.model.readline(limit)

    @rule(hint=st.integers(min_value=-1, max_value=80))
    def readlines(self, hint):
        if self.closed:
            assert self.buf.readlines(hint) == self.model.readlines(hint)
        elif hint > 0:
            # Complete without waiting only if a line ends at or after the hint.
            unread = self.unread()
            if unread.find(b"\n", hint - 1) != -1:
                assert self.buf.readlines(hint) == self.model.readlines(hint)

    @rule(n=st.integers(min_value=-1, max_value=60))
    def peek(self, n):
        if self.avail > 0 or self.closed:
            got = self.buf.peek(n)
            want = self.unread() if n <= 0 else self.unread()[:n]
            assert got == want

    @rule()
    def iterate_one(self):
        unread = self.unread()
        if b"\n" in unread or self.closed:
            line = self.model.readline()
            if line:
                assert next(self.buf) == line
            else:
                assert list(self.buf) == []

    # -- positioning and search --

    @rule(offset=st.integers(min_value=-5, max_value=300), whence=st.sampled_from([0, 1, 2]))
    def seek(self, offset, whence):
        base = {0: 0, 1: self.pos, 2: self.written}[whence]
        absolute = base + offset
        valid = 0 <= absolute <= self.written and (whence != 2 or self.closed)
        before = self.buf.tell()
        if valid:
            assert self.buf.seek(offset, whence) == self.model.seek(offset, whence)
        else:
            try:
                self.buf.seek(offset, whence)
            except ValueError:
                pass  # io.UnsupportedOperation is a ValueError too
            else:
                raise AssertionError("seek should have been refused")
            assert self.buf.tell() == before

    @rule(sub=needles, start=st.integers(min_value=-10, max_value=60), end=st.none() | st.integers(min_value=-10, max_value=60))
    def find(self, sub, start, end):
        assert self.buf.find(sub, start, end) == self.unread().find(sub, start, end)

    @rule()
    def view(self):
        with memoryview(self.buf) as mv:
            assert mv.tobytes() == self.unread()

    @invariant()
    def positions_agree(self):
        assert self.buf.tell() == self.pos
        assert len(self.buf) == self.avail
        assert self.buf.readable_amount() == self.avail
        assert self.buf.at_eof() == (self.closed and self.avail == 0)


BufferVsBytesIO.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None, database=None
)
TestBufferVsBytesIO = BufferVsBytesIO.TestCase


# -- reads larger than the bound --

import threading  # noqa: E402

from hypothesis import given  # noqa: E402

read_ops = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.integers(min_value=0, max_value=400)),
        st.tuples(st.just("read_all"), st.just(0)),
        st.tuples(st.just("readinto"), st.integers(min_value=1, max_value=400)),
        st.tuples(st.just("readline"), st.integers(min_value=-1, max_value=400)),
        st.tuples(st.just("readlines"), st.integers(min_value=-1, max_value=400)),
        st.tuples(st.just("next"), st.just(0)),
        st.tuples(st.just("read1"), st.integers(min_value=-1, max_value=400)),
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None, database=None)
@given(
    body=st.binary(max_size=1500).map(lambda b: b.replace(b"\x00", b"\n")),
    bound=st.integers(min_value=1, max_value=64),
    pieces=st.lists(st.integers(min_value=1, max_value=300), max_size=8),
    ops=read_ops,
)
def test_bounded_reads_match_bytesio(body, bound, pieces, ops):
    """A producer thread writes `body` (cut into `pieces`, each write waiting for room) into a
    buffer bounded far below the reads' sizes; blocking reads of every kind must return what
    `io.BytesIO(body)` returns. Before the fix any read needing more than `bound` hung."""
    buf = PyBuffer(max_buffered=bound)
    buf.settimeout(20)
    w = buf.writer()

    def produce() -> None:
        at = 0
        for n in pieces:
            w.write(body[at : at + n])
            at += n
        w.write(body[at:])
        w.close()

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    model = io.BytesIO(body)
    for kind, n in ops:
        if kind == "read":
            assert buf.read(n) == model.read(n)
        elif kind == "read_all":
            assert buf.read() == model.read()
        elif kind == "readinto":
            mine, theirs = bytearray(n), bytearray(n)
            assert buf.readinto(mine) == model.readinto(theirs)
            assert mine == theirs
        elif kind == "readline":
            assert buf.readline(n) == model.readline(n)
        elif kind == "readlines":
            assert buf.readlines(n) == model.readlines(n)
        elif kind == "next":
            assert next(buf, None) == (model.readline() or None)
        else:  # read1 returns what is there: a prefix of the model's rest
            got = buf.read1(n)
            want = model.read(len(got))
            assert got == want
            if n != 0 and model.tell() < len(body):
                assert got, "read1 returns at least one byte before EOF"
        info = repr(buf)
        assert "unread=" in info
    assert buf.read() == model.read()
    t.join(20)
    assert not t.is_alive()
