"""Shared helpers: a producer thread that feeds a buffer in given chunks."""

from __future__ import annotations

import random
import threading
from typing import Callable, Iterable, List, Optional

import pytest

import py_buffer


class Producer(threading.Thread):
    """Writes `chunks` from its own thread, then closes, aborts, drops its handle or (for
    "none") leaves the body open."""

    def __init__(
        self,
        writer: py_buffer.BufferWriter,
        chunks: Iterable[bytes],
        end: str = "close",
    ) -> None:
        super().__init__(daemon=True)
        self.writer = writer
        self.chunks = list(chunks)
        self.end = end
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            for chunk in self.chunks:
                self.writer.write(chunk)
            if self.end == "close":
                self.writer.close()
            elif self.end == "abort":
                self.writer.abort("client disconnected")
            elif self.end == "drop":
                self.writer = None  # the last handle: dropping it aborts the body
        except BaseException as e:  # reported by join_ok
            self.error = e

    def join_ok(self) -> None:
        self.join(30)
        assert not self.is_alive(), "producer still running"
        if self.error is not None:
            raise self.error


def chunkings(body: bytes, special: List[int], seed: int = 0) -> dict:
    """Named ways to split `body`: whole, one byte at a time, split at each offset in `special`
    (a CRLF or boundary cut in two), and random pieces."""
    rng = random.Random(seed)
    out = {"whole": [body], "bytewise": [body[i : i + 1] for i in range(len(body))]}
    for n, at in enumerate(special):
        out[f"split{n}"] = [body[:at], body[at:]]
    pieces, i = [], 0
    while i < len(body):
        k = rng.randint(1, 64)
        pieces.append(body[i : i + k])
        i += k
    out["random"] = pieces
    return out


def fed(body: bytes, chunks: List[bytes], *, content_length: bool = True, end: str = "close", **kw):
    """A buffer fed `chunks` by a producer thread; returns (buffer, producer)."""
    buf = py_buffer.PyBuffer(len(body) if content_length else None, **kw)
    producer = Producer(buf.writer(), chunks, end)
    producer.start()
    return buf, producer


@pytest.fixture
def run_in_thread() -> Callable:
    """Runs a function in a thread; returns a handle whose .result() re-raises its error."""
    threads = []

    class Handle:
        def __init__(self, fn: Callable) -> None:
            self.value: object = None
            self.error: Optional[BaseException] = None
            self.started = threading.Event()
            self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
            self.thread.start()
            self.started.wait(10)

        def _run(self, fn: Callable) -> None:
            self.started.set()
            try:
                self.value = fn()
            except BaseException as e:
                self.error = e

        def result(self) -> object:
            self.thread.join(20)
            assert not self.thread.is_alive(), "thread still blocked"
            if self.error is not None:
                raise self.error
            return self.value

    def start(fn: Callable) -> Handle:
        handle = Handle(fn)
        threads.append(handle)
        return handle

    yield start
    for h in threads:
        h.thread.join(20)
