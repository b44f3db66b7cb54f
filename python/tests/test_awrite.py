"""asyncio writes: ``await w.awrite(data)`` and ``await w.await_writable()`` on bounded and
unbounded buffers, woken by a reader on another thread or task, cancellation reporting
``characters_written``, errors. Each test runs on the default loop and on uvloop."""

from __future__ import annotations

import asyncio
import threading
from typing import List

import pytest

from py_buffer import BodyAborted, PyBuffer

from test_asyncio import run  # noqa: F401  (the loop fixture)


class Drainer(threading.Thread):
    """Reads a buffer to its end on its own thread, `size` bytes at a time, recording the
    largest unread amount it saw."""

    def __init__(self, buf: PyBuffer, size: int = 7) -> None:
        super().__init__(daemon=True)
        self.buf = buf
        self.size = size
        self.chunks: List[bytes] = []
        self.start_reading = threading.Event()
        self.start_reading.set()

    def run(self) -> None:
        self.start_reading.wait()
        while True:
            chunk = self.buf.read1(self.size)
            if not chunk:
                return
            self.chunks.append(chunk)

    def data(self) -> bytes:
        self.join(30)
        assert not self.is_alive()
        return b"".join(self.chunks)


@pytest.mark.parametrize(
    "data",
    [b"", b"abc", bytearray(b"xyz" * 100), memoryview(b"0123456789")[2:8], b"L" * 100_000],
    ids=["empty", "small", "bytearray", "memoryview", "large-bytes"],
)
def test_ready_write_completes_at_once(run, data) -> None:
    async def main() -> None:
        buf = PyBuffer()
        w = buf.writer()
        assert await w.awrite(data) == len(data)
        w.close()
        assert buf.read() == bytes(data)

    run(main())


def test_bounded_write_larger_than_the_bound(run) -> None:
    payload = bytes(range(256)) * 400  # 100 KiB through a 1000-byte bound

    async def main() -> None:
        buf = PyBuffer(max_buffered=1000)
        w = buf.writer()
        drainer = Drainer(buf, size=333)
        drainer.start()
        assert await w.awrite(payload) == len(payload)
        assert await w.awrite(bytearray(payload)) == len(payload)
        w.close()
        assert drainer.data() == payload * 2

    run(main())


def test_writer_and_reader_tasks_on_one_loop(run) -> None:
    payload = b"".join(b"%d," % i for i in range(20000))

    async def main() -> None:
        buf = PyBuffer(max_buffered=64)
        w = buf.writer()

        async def produce() -> None:
            for i in range(0, len(payload), 100):
                await w.awrite(payload[i : i + 100])
            w.close()

        async def consume() -> bytes:
            out = bytearray()
            async for chunk in buf.achunks(50):
                assert len(buf) <= 64
                out += chunk
            return bytes(out)

        _, got = await asyncio.gather(produce(), consume())
        assert got == payload

    run(main())


def test_await_writable_waits_for_room(run) -> None:
    async def main() -> None:
        buf = PyBuffer(max_buffered=4)
        w = buf.writer()
        await w.await_writable()  # room at once
        assert w.try_write(b"abcd") == 4
        waiter = asyncio.ensure_future(w.await_writable())
        await asyncio.sleep(0)
        assert not waiter.done()
        reader = threading.Thread(target=buf.read, args=(1,))
        reader.start()
        assert await waiter is None
        reader.join()
        assert w.try_write(b"e") == 1

    run(main())


def test_cancelled_write_reports_what_it_wrote(run) -> None:
    async def main() -> None:
        buf = PyBuffer(max_buffered=10)
        w = buf.writer()
        counts: List[int] = []

        async def write() -> None:
            try:
                await w.awrite(b"0123456789abcdefghij")
            except asyncio.CancelledError as e:
                # The exception raised at the await carries the count (a task's outside
                # awaiter gets a new CancelledError before Python 3.11).
                counts.append(e.characters_written)
                raise

        task = asyncio.ensure_future(write())
        await asyncio.sleep(0)
        assert not task.done()
        # Let 3 more bytes in: the task takes them, then waits again.
        assert buf.read(3) == b"012"
        while len(buf) < 10:  # the loop runs the woken task within a few iterations
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert counts == [13]
        assert buf.read_nonblock() == b"3456789abc"
        # The writer stays usable.
        assert await w.awrite(b"!") == 1
        w.close()
        assert buf.read() == b"!"

    run(main())


def test_reader_closed_mid_write(run) -> None:
    async def main() -> None:
        buf = PyBuffer(max_buffered=4)
        w = buf.writer()
        task = asyncio.ensure_future(w.awrite(b"abcdefgh"))
        await asyncio.sleep(0)
        threading.Thread(target=buf.close).start()
        with pytest.raises(BrokenPipeError) as info:
            await task
        assert info.value.characters_written == 4
        with pytest.raises(BrokenPipeError):
            await w.awrite(b"x")
        with pytest.raises(BrokenPipeError):
            await w.await_writable()

    run(main())


def test_aborted_body_fails_the_write(run) -> None:
    async def main() -> None:
        buf = PyBuffer(max_buffered=2)
        w = buf.writer()
        other = buf.writer()
        task = asyncio.ensure_future(w.awrite(b"abcd"))
        await asyncio.sleep(0)
        other.abort("client gone")
        with pytest.raises(BodyAborted) as info:
            await task
        assert info.value.characters_written == 2

    run(main())


def test_bad_arguments_fail_at_the_call() -> None:
    w = PyBuffer().writer()
    with pytest.raises(TypeError, match="data must be a bytes-like object, not 'str'"):
        w.awrite("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        w.awrite(42)  # type: ignore[arg-type]
