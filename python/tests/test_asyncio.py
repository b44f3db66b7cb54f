"""asyncio: every awaitable method, ready and not ready (fed by a writer thread), cancellation
at every await point, timeouts, errors, many buffers on one loop, several loops in several
threads, and no CPU spent while idle. Each test runs on the default loop and on uvloop."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from typing import Awaitable, Callable, List

import pytest

from py_buffer import BodyAborted, BodyTruncated, PyBuffer

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in .ci/requirements.txt
    uvloop = None

LOOPS = ["asyncio"] + (["uvloop"] if uvloop is not None else [])


def run_on_new_loop(kind: str, coro: Awaitable) -> object:
    """Runs `coro` to completion on a fresh loop of `kind`, then closes the loop the way
    `asyncio.run` does (async generators and the default executor shut down first).
    `asyncio.Runner` does this from Python 3.11 on; the suite supports 3.10."""
    loop = new_loop(kind)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    return uvloop.new_event_loop() if kind == "uvloop" else asyncio.new_event_loop()


@pytest.fixture(params=LOOPS)
def run(request) -> Callable[[Awaitable], object]:
    """Runs a coroutine to completion on a fresh loop of the parametrized kind."""

    def go(coro):
        return run_on_new_loop(request.param, coro)

    return go


async def later(fn: Callable[[], object], delay: float = 0.02) -> threading.Thread:
    """Runs `fn` on a new thread after `delay` seconds (a writer waking the loop from
    outside). Correctness never depends on the delay: it only makes the "armed, then woken"
    path the one that usually runs."""

    def target() -> None:
        time.sleep(delay)
        fn()

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t


def feeder(buf: PyBuffer, chunks: List[bytes], end: str = "close", delay: float = 0.001):
    """A thread writing `chunks` with small pauses, then closing/aborting/leaving open."""
    w = buf.writer()

    def target() -> None:
        for c in chunks:
            time.sleep(delay)
            w.write(c)
        if end == "close":
            w.close()
        elif end == "abort":
            w.abort("client disconnected")

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t


async def into(buf: PyBuffer, n: int):
    target = bytearray(n)
    got = await buf.areadinto(target)
    return got, bytes(target[:got])


async def collect_lines(buf: PyBuffer):
    return [line async for line in buf]


async def collect_chunks(buf: PyBuffer, size: int = 4):
    return [c async for c in buf.achunks(size)]


# Each awaitable, and what it gives once b"hello\nworld" arrived and the body closed.
CALLS = {
    "aread_n": (lambda b: b.aread(6), b"hello\n"),
    "aread_all": (lambda b: b.aread(), b"hello\nworld"),
    "aread1": (lambda b: b.aread1(100), b"hello\nworld"),
    "areadline": (lambda b: b.areadline(), b"hello\n"),
    "areadline_limit": (lambda b: b.areadline(3), b"hel"),
    "areadexactly": (lambda b: b.areadexactly(11), b"hello\nworld"),
    "areadinto": (lambda b: into(b, 6), (6, b"hello\n")),
    "wait_readable": (lambda b: b.wait_readable(), None),
    "async_for": (collect_lines, [b"hello\n", b"world"]),
    "achunks": (collect_chunks, [b"hell", b"o\nwo", b"rld"]),
}


@pytest.mark.parametrize("name", CALLS)
def test_ready_completes_without_a_loop_trip(run, name):
    call, expect = CALLS[name]

    async def main():
        buf = PyBuffer.from_bytes(b"hello\nworld")
        if name in ("async_for", "achunks"):
            return await call(buf)
        # Ready data: the awaitable completes on its first step, never yielding to the loop.
        awaitable = call(buf)
        it = awaitable.__await__()
        with pytest.raises(StopIteration) as stop:
            next(it)
        return stop.value.value

    assert run(main()) == expect


@pytest.mark.parametrize("name", CALLS)
def test_not_ready_is_woken_by_a_writer_thread(run, name):
    call, expect = CALLS[name]

    async def main():
        buf = PyBuffer()
        w = buf.writer()

        def write() -> None:
            w.write(b"hello\nwor")
            time.sleep(0.01)
            w.write(b"ld")
            w.close()

        t = await later(write)
        got = await call(buf)
        t.join()
        return got

    result = run(main())
    if name == "aread1":  # what is there when it wakes: at least the first write
        assert result in (b"hello\nwor", b"hello\nworld")
    elif name == "achunks":
        assert b"".join(result) == b"hello\nworld" and all(0 < len(c) <= 4 for c in result)
    else:
        assert result == expect


@pytest.mark.parametrize("chunk", [1, 3, 7, 4096])
def test_streamed_bytes_are_exact(run, chunk):
    body = bytes(range(256)) * 64
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)]

    async def main():
        buf = PyBuffer()
        t = feeder(buf, pieces, delay=0)
        out = bytearray()
        async for c in buf.achunks(1000):
            out += c
        t.join()
        return bytes(out)

    assert run(main()) == body


def test_lines_streamed_in_pieces(run):
    lines = [b"x" * n + b"\n" for n in range(0, 300, 7)]
    body = b"".join(lines)
    pieces = [body[i : i + 5] for i in range(0, len(body), 5)]

    async def main():
        buf = PyBuffer(len(body))
        t = feeder(buf, pieces, end="none", delay=0)
        got = [line async for line in buf]
        t.join()
        return got

    assert run(main()) == lines


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("end", ["truncated", "aborted"])
@pytest.mark.parametrize("ready", [True, False], ids=["ready", "not_ready"])
def test_failed_body_raises_after_the_bytes_that_arrived(run, end, ready):
    expect = BodyTruncated if end == "truncated" else BodyAborted

    async def main():
        buf = PyBuffer(10)
        w = buf.writer()

        def finish() -> None:
            w.write(b"abc")
            if end == "truncated":
                w.close()
            else:
                w.abort("gone")

        if ready:
            finish()
        else:
            await later(finish)
        with pytest.raises(expect):
            await buf.aread(10)  # cannot be met: raises, consumes nothing
        assert await buf.aread1(10) == b"abc"
        with pytest.raises(expect):
            await buf.aread1(10)
        with pytest.raises(expect):
            await buf.areadline()
        with pytest.raises(expect):
            async for _ in buf:
                pass
        await buf.wait_readable()  # a read would not wait: it would raise

    run(main())


def test_areadexactly_at_eof_raises_incomplete_read(run):
    async def main():
        buf = PyBuffer()
        w = buf.writer()
        await later(lambda: (w.write(b"abc"), w.close()))
        with pytest.raises(asyncio.IncompleteReadError) as e:
            await buf.areadexactly(5)
        assert e.value.partial == b"abc" and e.value.expected == 5
        assert await buf.aread() == b""
        with pytest.raises(ValueError):
            buf.areadexactly(-1)

    run(main())


def test_reader_close_wakes_awaiters(run):
    async def main():
        buf = PyBuffer()
        w = buf.writer()
        w.write(b"ab")
        await later(buf.close)
        assert await buf.aread(5) == b"ab"  # what remains, then EOF
        assert await buf.aread(5) == b""
        assert [line async for line in buf] == []

    run(main())


def test_timeout(run):
    async def main():
        buf = PyBuffer()
        w = buf.writer()
        buf.settimeout(0.05)
        with pytest.raises(TimeoutError, match="aread"):
            await buf.aread(1)
        w.write(b"x")  # nothing was lost or taken by the timed-out await
        assert await buf.aread(1) == b"x"
        await later(lambda: w.write(b"yz"), 0.01)
        assert await buf.aread(2) == b"yz"  # woken before the timeout
        buf.settimeout(None)
        await later(lambda: w.write(b"!"), 0.1)
        assert await buf.aread(1) == b"!"

    run(main())


def test_bad_arguments(run):
    buf = PyBuffer.from_bytes(b"x")
    with pytest.raises(ValueError):
        buf.aread(-2)
    with pytest.raises(ValueError):
        buf.achunks(0)

    async def main():
        with pytest.raises(TypeError):  # raised when awaited, as a coroutine would
            await buf.areadinto(b"readonly")

    run(main())


# --- cancellation --------------------------------------------------------------------------------

AWAIT_POINTS = {
    "aread_n": lambda b: b.aread(4),
    "aread_all": lambda b: b.aread(),
    "aread1": lambda b: b.aread1(4),
    "areadline": lambda b: b.areadline(),
    "areadexactly": lambda b: b.areadexactly(4),
    "areadinto": lambda b: b.areadinto(bytearray(4)),
    "wait_readable": lambda b: b.wait_readable(),
    "wait_hangup": lambda b: b.wait_hangup(),
    "anext": lambda b: b.__anext__(),
    "achunks": lambda b: b.achunks(4).__anext__(),
}


@pytest.mark.parametrize("how", ["cancel", "wait_for", "cancel_after_wake"])
@pytest.mark.parametrize("name", AWAIT_POINTS)
def test_cancelled_await_consumes_nothing(run, name, how):
    call = AWAIT_POINTS[name]
    body = b"ab\ncdefgh\n"

    async def main():
        buf = PyBuffer()
        w = buf.writer()
        if how == "wait_for":
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(call(buf), 0.02)
            w.write(body)
        elif how == "cancel_after_wake":
            # The data arrives and the hub resolves the loop future, but the await is
            # cancelled before it resumes (driven by hand here: what a Task does when
            # `cancel()` comes between the wake-up and its next step). Nothing is taken.
            it = call(buf).__await__()
            fut = next(it)
            w.write(body)
            w.close()
            await asyncio.wait([fut], timeout=0.5)
            assert fut.done() or name == "wait_hangup"
            with pytest.raises(asyncio.CancelledError):
                it.throw(asyncio.CancelledError())
        else:
            task = asyncio.ensure_future(call(buf))
            await asyncio.sleep(0.01)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            if how == "cancel":
                w.write(body)
        w.close()
        assert await buf.aread() == body
        assert armed() == 0  # every cancelled await was disarmed

    run(main())


def armed() -> int:
    """How many awaits the running loop's hub holds armed."""
    hub = getattr(asyncio.get_running_loop(), "_py_buffer_hub", None)
    if hub is None:
        return 0
    return int(repr(hub).split("armed=")[1].rstrip(">"))


@pytest.mark.parametrize("end", ["reader_close", "abort", "abort_after_complete"])
@pytest.mark.parametrize("ready", [True, False], ids=["ready", "not_ready"])
def test_wait_hangup(run, end, ready):
    async def main():
        buf = PyBuffer(3)
        w = buf.writer()
        w.write(b"abc")  # complete: a clean EOF is not a hang-up
        assert await buf.aread() == b"abc"
        if end == "abort":
            buf2 = PyBuffer()
            w2 = buf2.writer()
            buf, w = buf2, w2
        finish = buf.close if end == "reader_close" else (lambda: w.abort("gone"))
        if ready:
            finish()
            assert await buf.wait_hangup() is None
        else:
            pending = asyncio.ensure_future(buf.wait_hangup())
            await asyncio.sleep(0.02)
            assert not pending.done()
            await later(finish)
            assert await pending is None

    run(main())


def test_cancellation_in_a_loop_loses_nothing(run):
    """Many reads, each racing a short timeout, while a writer streams: every byte is read
    exactly once, in order."""
    body = bytes(range(256)) * 40

    async def main():
        buf = PyBuffer()
        t = feeder(buf, [body[i : i + 97] for i in range(0, len(body), 97)], delay=0.0005)
        out = bytearray()
        cancelled = 0
        while True:
            try:
                chunk = await asyncio.wait_for(buf.aread1(50), 0.0007)
            except asyncio.TimeoutError:
                cancelled += 1
                continue
            if not chunk:
                break
            out += chunk
        t.join()
        assert armed() == 0
        return bytes(out), cancelled

    out, _ = run(main())
    assert out == body


def test_abandoned_await_is_disarmed(run):
    async def main():
        buf = PyBuffer()
        w = buf.writer()
        coro = buf.aread(3).__await__()
        fut = next(coro)  # armed: yields the loop future
        assert isinstance(fut, asyncio.Future)
        coro.close()  # the coroutine is dropped: disarmed, nothing taken
        hub = asyncio.get_running_loop()._py_buffer_hub  # type: ignore[attr-defined]
        assert "armed=0" in repr(hub)
        w.write(b"abc")
        w.close()
        assert await buf.aread() == b"abc"

    run(main())


# --- scale, loops, threads, CPU ------------------------------------------------------------------


def test_thousand_buffers_on_one_loop_two_producers(run):
    n, rounds = 1000, 5

    async def main():
        bufs = [PyBuffer() for _ in range(n)]
        writers = [b.writer() for b in bufs]

        def produce(indices) -> None:
            for r in range(rounds):
                for i in indices:
                    writers[i].write(b"%d:%d;" % (i, r))
            for i in indices:
                writers[i].close()

        async def consume(i: int) -> bytes:
            out = bytearray()
            while True:
                c = await bufs[i].aread1(7)
                if not c:
                    return bytes(out)
                out += c

        tasks = [asyncio.ensure_future(consume(i)) for i in range(n)]
        await asyncio.sleep(0)
        producers = [
            threading.Thread(target=produce, args=(range(k, n, 2),), daemon=True) for k in (0, 1)
        ]
        for p in producers:
            p.start()
        results = await asyncio.gather(*tasks)
        for p in producers:
            p.join()
        return results

    results = run(main())
    assert len(results) == n
    for i, got in enumerate(results):
        assert got == b"".join(b"%d:%d;" % (i, r) for r in range(rounds))
    assert sum(map(len, results)) == sum(
        len(b"%d:%d;" % (i, r)) for i in range(n) for r in range(rounds)
    )


@pytest.mark.parametrize("kind", LOOPS)
def test_several_loops_in_several_threads(kind):
    nloops, nbufs = 4, 25
    body = b"line\n" * 200
    bufs = [[PyBuffer() for _ in range(nbufs)] for _ in range(nloops)]
    results: dict = {}

    def loop_thread(k: int) -> None:
        async def main():
            async def one(buf):
                return b"".join([line async for line in buf])

            return await asyncio.gather(*(one(b) for b in bufs[k]))

        results[k] = run_on_new_loop(kind, main())

    threads = [threading.Thread(target=loop_thread, args=(k,), daemon=True) for k in range(nloops)]
    for t in threads:
        t.start()
    writers = [[b.writer() for b in row] for row in bufs]
    # One producer thread feeding every loop's buffers, interleaved.
    for i in range(0, len(body), 50):
        for row in writers:
            for w in row:
                w.write(body[i : i + 50])
    for row in writers:
        for w in row:
            w.close()
    for t in threads:
        t.join(20)
        assert not t.is_alive()
    assert all(results[k] == [body] * nbufs for k in range(nloops))


def test_same_buffer_awaited_from_two_loops():
    buf = PyBuffer()
    w = buf.writer()
    got: list = []

    def reader() -> None:
        async def main():
            while True:
                c = await buf.aread1(1)
                if not c:
                    return
                got.append(c)

        asyncio.run(main())

    threads = [threading.Thread(target=reader, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(300):
        w.write(b"%c" % (65 + i % 26))
    w.close()
    for t in threads:
        t.join(20)
        assert not t.is_alive()
    assert sorted(got) == sorted(b"%c" % (65 + i % 26) for i in range(300))


def thread_wakeups() -> int:
    """Voluntary context switches of the calling thread so far (Linux), else 0."""
    import resource

    if not hasattr(resource, "RUSAGE_THREAD"):
        return 0
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw


async def idle_for_one_second(start_waiting: Callable[[], "asyncio.Future"]):
    """Starts a waiter, lets the loop idle 1 s; returns (CPU share, loop-thread wake-ups)."""
    waiter = start_waiting()
    await asyncio.sleep(0.05)
    c0, t0, n0 = time.process_time(), time.monotonic(), thread_wakeups()
    await asyncio.sleep(1.0)
    cpu, wall, wakeups = time.process_time() - c0, time.monotonic() - t0, thread_wakeups() - n0
    assert not waiter.done()
    return waiter, cpu / wall, wakeups


def test_idle_awaiter_uses_no_cpu(run):
    """An awaiter blocked on an idle buffer for 1 s: under 5% of a core, and the loop's thread
    sleeps throughout (a handful of wake-ups: the test's own sleep). The seed's polling recipe,
    `asyncio.sleep(0.001)` in a loop, wakes the thread about a thousand times a second."""

    async def main():
        buf = PyBuffer()
        w = buf.writer()
        task, share, wakeups = await idle_for_one_second(lambda: asyncio.ensure_future(buf.aread(1)))
        w.write(b"x")
        assert await task == b"x"
        return share, wakeups

    share, wakeups = run(main())
    assert share < 0.05, f"idle awaiter used {share:.1%} of a core"
    assert wakeups < 50, f"the loop thread woke {wakeups} times while idle"


@pytest.mark.skipif(thread_wakeups() == 0, reason="needs RUSAGE_THREAD (Linux)")
def test_idle_check_catches_polling(run):
    """The control: the seed's recipe fails the wake-up bound above."""

    async def main():
        buf = PyBuffer()

        async def poll():
            while buf.readable_amount() < 1:
                await asyncio.sleep(0.001)

        task, _, wakeups = await idle_for_one_second(lambda: asyncio.ensure_future(poll()))
        task.cancel()
        return wakeups

    assert run(main()) > 200


def test_hubs_are_per_loop_and_freed_with_the_loop(run):
    async def hub_of_this_loop():
        buf = PyBuffer()
        w = buf.writer()
        await later(lambda: w.write(b"x"))
        await buf.aread(1)
        return asyncio.get_running_loop()._py_buffer_hub  # type: ignore[attr-defined]

    a = run(hub_of_this_loop())
    b = run(hub_of_this_loop())
    assert a is not b
    del a, b
    gc.collect()


@pytest.mark.parametrize("kind", LOOPS)
def test_loop_closed_with_armed_awaits_is_collected(kind):
    """A loop closed by hand while tasks still await buffers (never cancelled): the loop, its
    hub and the awaits form a cycle the collector frees."""
    import weakref

    loop = new_loop(kind)
    bufs = [PyBuffer() for _ in range(3)]
    writers = [b.writer() for b in bufs]

    async def start():
        return [asyncio.ensure_future(b.aread(1)) for b in bufs]

    tasks = loop.run_until_complete(start())
    loop.run_until_complete(asyncio.sleep(0.01))  # the tasks arm
    assert not any(t.done() for t in tasks)
    loop.close()
    ref = weakref.ref(loop)
    loop.set_exception_handler(lambda loop, context: None)  # "Task was destroyed but it is pending"
    del loop, tasks
    gc.collect()
    assert ref() is None
    for w in writers:
        w.write(b"x")  # a wake-up for a loop that is gone is harmless
    assert [b.read(1) for b in bufs] == [b"x"] * 3
