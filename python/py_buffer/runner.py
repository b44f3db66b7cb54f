"""A thread running an asyncio event loop (uvloop when installed) that takes work from others.

>>> from py_buffer.runner import LoopRunner
>>> async def answer(): return 42
>>> with LoopRunner() as runner:
...     runner.call(answer())
42

`LoopRunner.submit` is thread-safe (``asyncio.run_coroutine_threadsafe``: the loop's own
``call_soon_threadsafe`` wake-up) and returns a `concurrent.futures.Future`; `call` waits for
it. `spawn` starts a coroutine whose result nobody waits for: called on the loop's own thread
(e.g. from a reader callback) it is a task at once, with no wake-up and no future. `stop`
cancels what still runs, closes the loop and joins the thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from types import TracebackType
from typing import Any, Coroutine, Optional, Type, TypeVar

__all__ = ["LoopRunner", "new_event_loop"]

T = TypeVar("T")


def new_event_loop(use_uvloop: Optional[bool] = None) -> asyncio.AbstractEventLoop:
    """A uvloop loop when uvloop is importable (or ``use_uvloop`` is true), else asyncio's."""
    if use_uvloop is not False:
        try:
            import uvloop
        except ImportError:
            if use_uvloop:
                raise
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class LoopRunner:
    """One event loop on its own (daemon) thread."""

    def __init__(self, name: str = "py_buffer-loop", *, use_uvloop: Optional[bool] = None) -> None:
        self.name = name
        self.use_uvloop = use_uvloop
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        #: Tasks `spawn` started (the loop keeps only weak references to tasks).
        self._spawned: "set[asyncio.Task[Any]]" = set()

    def start(self) -> "LoopRunner":
        """Starts the thread (once) and returns when its loop runs."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        self._ready.wait()
        return self

    def _run(self) -> None:
        loop = new_event_loop(self.use_uvloop)
        asyncio.set_event_loop(loop)
        self.loop = loop
        loop.call_soon(self._ready.set)
        try:
            loop.run_forever()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> "concurrent.futures.Future[T]":
        """Runs `coro` on the loop (from any thread)."""
        self.start()
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Runs `coro` on the loop, its result unread (from any thread; on the loop's own
        thread it becomes a task at once)."""
        thread = self._thread
        if thread is not None and thread.ident == threading.get_ident():
            assert self.loop is not None
            task = self.loop.create_task(coro)
            self._spawned.add(task)
            task.add_done_callback(self._spawned.discard)
        else:
            self.submit(coro)

    def call(self, coro: Coroutine[Any, Any, T], timeout: Optional[float] = None) -> T:
        """Runs `coro` on the loop and waits for its result (not from the loop's thread)."""
        return self.submit(coro).result(timeout)

    def stop(self) -> None:
        """Stops the loop (cancelling what runs), closes it and joins the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.loop.stop)
        thread.join()

    def __enter__(self) -> "LoopRunner":
        return self.start()

    def __exit__(
        self,
        typ: Optional[Type[BaseException]],
        val: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()
