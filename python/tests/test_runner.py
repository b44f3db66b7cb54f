"""`LoopRunner.spawn`: a coroutine nobody waits for, from another thread (through the loop's
thread-safe wake-up) or from the loop's own thread (a task at once, kept alive until done),
on asyncio's loop and on uvloop."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest

from py_buffer.runner import LoopRunner

try:
    import uvloop  # noqa: F401

    LOOPS = [False, True]
except ImportError:
    LOOPS = [False]


@pytest.fixture(params=LOOPS, ids=lambda u: "uvloop" if u else "asyncio")
def runner(request):
    with LoopRunner(use_uvloop=request.param) as r:
        yield r


def test_spawn_from_another_thread_runs_on_the_loop(runner: LoopRunner) -> None:
    ran = threading.Event()
    where = []

    async def job() -> None:
        where.append(threading.get_ident())
        ran.set()

    assert runner.spawn(job()) is None
    assert ran.wait(10)
    assert runner._thread is not None and where == [runner._thread.ident]


def test_spawn_on_the_loop_thread_is_a_task_at_once_and_kept_until_done(
    runner: LoopRunner,
) -> None:
    release = None
    results = []

    async def job(n: int) -> None:
        assert release is not None
        await release.wait()
        results.append(n)

    async def spawn_many() -> int:
        nonlocal release
        release = asyncio.Event()
        before = len(asyncio.all_tasks())
        for n in range(100):
            runner.spawn(job(n))
        started = len(asyncio.all_tasks()) - before
        # The loop holds tasks weakly: only `spawn`'s own references keep them alive.
        gc.collect()
        await asyncio.sleep(0)
        release.set()
        return started

    assert runner.call(spawn_many(), 10) == 100

    async def settled() -> None:
        while len(results) < 100 or runner._spawned:
            await asyncio.sleep(0.001)

    runner.call(settled(), 10)
    assert sorted(results) == list(range(100))
    assert runner._spawned == set()
