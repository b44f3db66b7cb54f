"""The awaitables behave like coroutines: awaited once; a second
concurrent await or a hand-driven ``send()`` while a task awaits raises RuntimeError instead
of stalling the task; awaiting a finished one raises ``RuntimeError("cannot reuse already
awaited ...")``; ``throw()`` checks its argument as ``coroutine.throw`` does; re-entering an
awaitable from inside its own step (an ``areadinto`` target's ``__buffer__``) raises
RuntimeError, not a Rust panic."""

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


@pytest.mark.parametrize("call", ["close", "throw", "send"])
def test_reentering_from_the_loops_create_future_raises_runtime_error(call):
    """The same re-entry on every Python version: a loop whose ``create_future`` (called while
    the awaitable arms) calls back into the awaitable."""
    seen = []
    holder = {}

    class Loop(asyncio.SelectorEventLoop):
        def create_future(self):
            aw = holder.pop("aw", None)
            if aw is not None:
                try:
                    if call == "close":
                        aw.close()
                    elif call == "throw":
                        aw.throw(KeyError)
                    else:
                        aw.send(None)
                except BaseException as e:  # checked below
                    seen.append(e)
            return super().create_future()

    b = PyBuffer()
    w = b.writer()

    async def main():
        aw = b.aread(2)
        holder["aw"] = aw
        task = asyncio.ensure_future(_await(aw))
        await asyncio.sleep(0)
        w.write(b"ok")
        return await asyncio.wait_for(task, 20)

    loop = Loop()
    try:
        assert loop.run_until_complete(main()) == b"ok"
    finally:
        loop.close()
    assert [type(e) for e in seen] == [RuntimeError]
    assert "already executing" in str(seen[0])
