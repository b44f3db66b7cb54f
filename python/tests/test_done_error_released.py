"""An await that failed at once hands its error over instead of keeping it.

Found by the soak (`make soak`, docs/reliability.md): `asyncio.wait_for(buf.aread1(n), t)`
on an aborted body leaked the buffer every time. `wait_for` wraps the awaitable in a
coroutine whose frame holds it; the awaitable kept the `BodyAborted` it raised, whose
traceback holds that frame: a reference cycle through an object the collector cannot see
into, so `gc.collect()` never freed it, nor the buffer the frames referenced.
"""

import asyncio
import gc
import weakref

import pytest

import py_buffer

ROUNDS = 20


def freed(refs: list) -> bool:
    """Whether every buffer `refs` (weak references) point to was freed, after a collection:
    a buffer kept by a cycle through our awaitable survives `gc.collect()`."""
    gc.collect()
    return all(ref() is None for ref in refs)


async def read_aborted_through_wait_for(data: bytes, refs: list) -> bytes:
    buf = py_buffer.PyBuffer()
    refs.append(weakref.ref(buf))
    writer = buf.writer()
    writer.write(data)
    writer.abort("gone")
    got = await asyncio.wait_for(buf.aread1(len(data)), None)
    with pytest.raises(py_buffer.BodyAborted):
        await asyncio.wait_for(buf.aread1(1), None)
    return got


async def read_truncated_through_wait_for(refs: list) -> None:
    buf = py_buffer.PyBuffer(5)
    refs.append(weakref.ref(buf))
    writer = buf.writer()
    writer.write(b"abc")
    writer.close()
    with pytest.raises(py_buffer.BodyTruncated):
        await asyncio.wait_for(buf.aread(5), 10)


def test_aborted_reads_through_wait_for_free_their_buffers() -> None:
    refs: list = []
    for i in range(ROUNDS):
        assert asyncio.run(read_aborted_through_wait_for(bytes([i]) * 7, refs)) == bytes([i]) * 7
    assert len(refs) == ROUNDS
    assert freed(refs)


def test_truncated_reads_through_wait_for_free_their_buffers() -> None:
    refs: list = []
    for _ in range(ROUNDS):
        asyncio.run(read_truncated_through_wait_for(refs))
    assert len(refs) == ROUNDS
    assert freed(refs)


def test_the_error_is_still_raised_once_and_reuse_still_refused() -> None:
    async def main() -> None:
        buf = py_buffer.PyBuffer()
        writer = buf.writer()
        writer.abort("gone")
        awaitable = buf.aread1(1)
        with pytest.raises(py_buffer.BodyAborted, match="gone"):
            await awaitable
        with pytest.raises(RuntimeError, match="cannot reuse already awaited"):
            await awaitable

    asyncio.run(main())
