"""The awaitables behave like coroutines: awaited once; a second
concurrent await or a hand-driven ``send()`` while a task awaits raises RuntimeError instead
of stalling the task; awaiting a finished one raises ``RuntimeError("cannot reuse already
awaited ...")``; ``throw()`` checks its argument as ``coroutine.throw`` does; re-entering an
awaitable from inside its own step (an ``areadinto`` target's ``__buffer__``) raises
RuntimeError, not a Rust panic. The writes that wait (``awrite``, ``await_writable``) share the
protocol and are held to the same rules."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from py_buffer import PyBuffer


def ready_buffer(data: bytes = b"hello") -> PyBuffer:
    b = PyBuffer()
    w = b.writer()
    w.write(data)
    w.close()
    return b


def test_a_done_awaitable_cannot_be_awaited_twice():
    b = ready_buffer()

    async def main():
        aw = b.aread(2)
        assert await aw == b"he"
        with pytest.raises(RuntimeError, match="cannot reuse already awaited aread"):
            await aw
        assert b.read() == b"llo", "the second await read nothing"

    asyncio.run(main())


def test_a_waiting_awaitable_cannot_be_awaited_twice_or_after_it_finished():
    b = PyBuffer()
    w = b.writer()

    async def main():
        aw = b.aread(3)
        first = asyncio.ensure_future(_await(aw))
        await asyncio.sleep(0)  # the first task arms
        with pytest.raises(RuntimeError, match="being awaited already"):
            await aw
        w.write(b"abcdef")
        assert await asyncio.wait_for(first, 20) == b"abc"
        with pytest.raises(RuntimeError, match="cannot reuse already awaited aread"):
            await aw
        assert b.read(3) == b"def"

    asyncio.run(main())


async def _await(aw):
    return await aw


def test_send_by_hand_while_a_task_awaits_does_not_steal_the_wake_up():
    b = PyBuffer()
    w = b.writer()

    async def main():
        aw = b.aread(2)
        task = asyncio.ensure_future(_await(aw))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="being awaited already"):
            aw.send(None)
        w.write(b"xy")
        assert await asyncio.wait_for(task, 20) == b"xy"

    asyncio.run(main())


def test_a_closed_or_thrown_awaitable_cannot_be_awaited():
    b = PyBuffer()

    async def main():
        for make in (lambda: b.aread(1), lambda: ready_buffer().aread(1)):
            aw = make()
            aw.close()
            with pytest.raises(RuntimeError, match="cannot reuse already awaited"):
                await aw
            aw = make()
            with pytest.raises(KeyError):
                aw.throw(KeyError("k"))
            with pytest.raises(RuntimeError, match="cannot reuse already awaited"):
                await aw

    asyncio.run(main())


@pytest.mark.parametrize("ready", [False, True])
@pytest.mark.parametrize("bad", [1, None, "error", int])
def test_throw_refuses_what_is_not_an_exception(ready, bad):
    b = ready_buffer() if ready else PyBuffer()
    aw = b.aread(1)
    with pytest.raises(TypeError, match="exceptions must be classes or instances deriving from BaseException"):
        aw.throw(bad)


def test_throw_with_a_class_and_a_value():
    aw = PyBuffer().aread(1)
    with pytest.raises(ValueError, match="boom"):
        aw.throw(ValueError, "boom")
    aw = PyBuffer().aread(1)
    with pytest.raises(TypeError, match="instance exception may not have a separate value"):
        aw.throw(ValueError("a"), "b")


@pytest.mark.skipif(sys.version_info < (3, 12), reason="__buffer__ in Python needs 3.12")
@pytest.mark.parametrize("call", ["close", "throw", "send"])
def test_reentering_from_a_readinto_targets_buffer_raises_runtime_error(call):
    b = PyBuffer()
    w = b.writer()
    seen = []
    armed = []  # the awaitable, once made: `areadinto` itself also checks the target

    class Target:
        def __buffer__(self, flags):
            if not armed:
                return memoryview(bytearray(4))
            aw = armed[0]
            try:
                if call == "close":
                    aw.close()
                elif call == "throw":
                    aw.throw(KeyError)
                else:
                    aw.send(None)
            except BaseException as e:  # checked below
                seen.append(e)
            return memoryview(bytearray(4))

    aw = b.areadinto(Target())
    armed.append(aw)

    async def main():
        w.write(b"abcd")
        return await aw

    assert asyncio.run(main()) == 4
    assert len(seen) >= 1
    assert all(type(e) is RuntimeError for e in seen), seen
    assert "already executing" in str(seen[0])


class ReenteringLoop(asyncio.SelectorEventLoop):
    """A loop whose ``create_future`` (called while an awaitable arms) calls back into
    ``target`` once (``close``, ``throw`` or ``send``), recording what that raised in
    ``seen``."""

    def __init__(self, call: str) -> None:
        super().__init__()
        self.call = call
        self.target = None
        self.seen = []

    def create_future(self):
        aw, self.target = self.target, None
        if aw is not None:
            try:
                if self.call == "close":
                    aw.close()
                elif self.call == "throw":
                    aw.throw(KeyError)
                else:
                    aw.send(None)
            except BaseException as e:  # checked by the test
                self.seen.append(e)
        return super().create_future()


@pytest.mark.parametrize("call", ["close", "throw", "send"])
def test_reentering_from_the_loops_create_future_raises_runtime_error(call):
    """The same re-entry on every Python version: a loop whose ``create_future`` (called while
    the awaitable arms) calls back into the awaitable."""
    loop = ReenteringLoop(call)

    b = PyBuffer()
    w = b.writer()

    async def main():
        aw = b.aread(2)
        loop.target = aw
        task = asyncio.ensure_future(_await(aw))
        await asyncio.sleep(0)
        w.write(b"ok")
        return await asyncio.wait_for(task, 20)

    try:
        assert loop.run_until_complete(main()) == b"ok"
    finally:
        loop.close()
    assert [type(e) for e in loop.seen] == [RuntimeError]
    assert "already executing" in str(loop.seen[0])


# The writes that wait (``awrite``, ``await_writable``) follow the same rules as the reads: one
# awaitable protocol. A write that must wait: a 2-byte bound, full.

WRITES = ["awrite", "await_writable"]


def pending_write(method: str):
    """A bounded buffer, its writer, a write awaitable that must wait (the bound is full), and
    what awaiting it returns once the reader drained 2 bytes. Nothing is written before the
    awaitable's first step: an `awrite` appends "ab" there, and "cd" waits."""
    buf = PyBuffer(max_buffered=2)
    w = buf.writer()
    if method == "awrite":
        aw = w.awrite(b"abcd")
        return buf, w, aw, 4
    assert w.try_write(b"ab") == 2
    return buf, w, w.await_writable(), None


def message(info) -> str:
    return str(info.value)


@pytest.mark.parametrize("method", WRITES)
def test_a_waiting_write_cannot_be_awaited_twice_or_after_it_finished(method):
    async def main():
        buf, w, aw, result = pending_write(method)
        first = asyncio.ensure_future(_await(aw))
        await asyncio.sleep(0)  # the first task arms
        with pytest.raises(RuntimeError) as info:
            await aw
        assert message(info) == f"{method}() is being awaited already"
        assert buf.read(2) == b"ab"
        assert await asyncio.wait_for(first, 20) == result
        with pytest.raises(RuntimeError) as info:
            await aw
        assert message(info) == f"cannot reuse already awaited {method}()"
        w.close()
        assert buf.read() == (b"cd" if method == "awrite" else b""), "nothing written twice"

    asyncio.run(main())


@pytest.mark.parametrize("method", WRITES)
def test_send_by_hand_while_a_task_awaits_a_write_does_not_steal_the_wake_up(method):
    async def main():
        buf, w, aw, result = pending_write(method)
        task = asyncio.ensure_future(_await(aw))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError) as info:
            aw.send(None)
        assert message(info) == f"{method}() is being awaited already"
        with pytest.raises(RuntimeError) as info:
            next(aw)
        assert message(info) == f"{method}() is being awaited already"
        assert buf.read(2) == b"ab"
        assert await asyncio.wait_for(task, 20) == result

    asyncio.run(main())


@pytest.mark.parametrize("method", WRITES)
def test_a_closed_write_cannot_be_awaited_and_writes_nothing_more(method):
    async def main():
        buf, w, aw, _ = pending_write(method)
        if method == "awrite":
            aw.send(None)  # the first step: "ab" appended, "cd" waits
        aw.close()
        assert buf.read(2) == b"ab"  # room: a write still armed would take it
        with pytest.raises(RuntimeError) as info:
            await aw
        assert message(info) == f"cannot reuse already awaited {method}()"
        w.close()
        assert buf.read() == b""

    asyncio.run(main())


@pytest.mark.parametrize("method", WRITES)
def test_a_thrown_write_raises_with_its_count_and_cannot_be_awaited(method):
    async def main():
        buf, w, aw, _ = pending_write(method)
        fut = aw.send(None)  # a step by hand: armed, the loop future to wait on
        assert isinstance(fut, asyncio.Future) and not fut.done()
        with pytest.raises(KeyError) as info:
            aw.throw(KeyError("k"))
        assert info.value.args == ("k",)
        assert info.value.characters_written == (2 if method == "awrite" else 0)
        assert aw.characters_written == (2 if method == "awrite" else 0)
        with pytest.raises(RuntimeError) as info:
            aw.throw(KeyError("again"))
        assert message(info) == f"cannot reuse already awaited {method}()"
        with pytest.raises(RuntimeError) as info:
            await aw
        assert message(info) == f"cannot reuse already awaited {method}()"
        assert buf.read(2) == b"ab"  # room: a write still armed would take it
        w.close()
        assert buf.read() == b"", "the thrown write appended nothing more"

    asyncio.run(main())


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("bad", [1, None, "error", int])
def test_throw_into_a_write_refuses_what_is_not_an_exception(method, bad):
    _, _, aw, _ = pending_write(method)
    with pytest.raises(TypeError) as info:
        aw.throw(bad)
    assert message(info) == (
        "exceptions must be classes or instances deriving from BaseException, "
        f"not {type(bad).__name__}"
    )


def test_throw_into_a_write_with_a_class_and_a_value():
    buf, _, aw, _ = pending_write("awrite")
    with pytest.raises(ValueError) as info:
        aw.throw(ValueError, "boom")
    assert info.value.args == ("boom",)
    assert info.value.characters_written == 0  # thrown before its first step: nothing written
    assert buf.readable_amount() == 0
    _, _, aw, _ = pending_write("awrite")
    with pytest.raises(TypeError) as info:
        aw.throw(ValueError("a"), "b")
    assert message(info) == "instance exception may not have a separate value"


@pytest.mark.parametrize("method", WRITES)
def test_nothing_is_taken_or_written_before_the_first_step(method):
    # A task cancelled before it ran, wait_for(..., 0), a gather whose sibling failed: the
    # awaitable is never stepped, and the bytes stay (asyncio.StreamReader.read() likewise).
    async def main():
        buf = PyBuffer()
        w = buf.writer()
        w.write(b"abcdef")
        for make in (lambda: buf.aread(3), lambda: buf.areadline(), lambda: buf.aread1(2),
                     lambda: buf.areadexactly(2), lambda: buf.achunks(2).__anext__()):
            task = asyncio.ensure_future(make())
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(make(), 0)
            make().close()
            make()  # never awaited
        assert buf.read(6) == b"abcdef"
        aw = w.awrite(b"xy") if method == "awrite" else w.await_writable()
        task = asyncio.ensure_future(aw)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        w.close()
        assert buf.read() == b""

    asyncio.run(main())


@pytest.mark.parametrize("method", WRITES)
def test_a_write_completed_at_once_cannot_be_awaited_twice(method):
    async def main():
        buf = PyBuffer()
        w = buf.writer()
        aw = w.awrite(b"xy") if method == "awrite" else w.await_writable()
        assert await aw == (2 if method == "awrite" else None)
        with pytest.raises(RuntimeError) as info:
            await aw
        assert message(info) == f"cannot reuse already awaited {method}()"
        w.close()
        assert buf.read() == (b"xy" if method == "awrite" else b"")

    asyncio.run(main())


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("call", ["close", "throw", "send"])
def test_reentering_a_write_from_the_loops_create_future_raises_runtime_error(method, call):
    loop = ReenteringLoop(call)

    async def main():
        buf, w, aw, result = pending_write(method)
        loop.target = aw
        task = asyncio.ensure_future(_await(aw))
        await asyncio.sleep(0)
        assert buf.read(2) == b"ab"
        return await asyncio.wait_for(task, 20), result

    try:
        got, expected = loop.run_until_complete(main())
    finally:
        loop.close()
    assert got == expected
    assert [type(e) for e in loop.seen] == [RuntimeError]
    assert "already executing" in str(loop.seen[0])
