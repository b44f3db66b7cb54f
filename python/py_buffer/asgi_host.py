"""One ASGI app served from an event-loop thread: lifespan once, then requests from any thread.

    host = AsgiHost(app)
    host.start()                              # lifespan startup on the loop thread; waits
    host.submit(request, body, responder)     # from any thread; a concurrent Future
    host.dispatch(request, body, responder)   # the same, no Future (a task at once on the loop)
    host.stop(drain=5.0)                      # waits for running calls (5 s at most),
                                              # lifespan shutdown; the loop thread ends

The host owns a `LoopRunner` unless given one (several hosts may share a runner). Requests
run as tasks on that loop (`AsgiAdapter`), with the lifespan state copied into each scope.
`start` raises `LifespanFailed` if the app reported a failed startup.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any, Optional

from ._native import PyBuffer
from .asgi_app import WHOLE_MAX, AsgiAdapter, AsgiApp
from .failures import LOG
from .lifespan import Lifespan
from .responder import Responder
from .runner import LoopRunner

__all__ = ["AsgiHost"]


class AsgiHost:
    """An ASGI app, its lifespan and the loop thread its requests run on."""

    def __init__(
        self,
        app: AsgiApp,
        *,
        runner: Optional[LoopRunner] = None,
        lifespan: bool = True,
        whole_max: int = WHOLE_MAX,
    ) -> None:
        self.app = app
        self._own_runner = runner is None
        self.runner = runner if runner is not None else LoopRunner(name="py_buffer-asgi")
        self.lifespan: Optional[Lifespan] = Lifespan(app) if lifespan else None
        state = self.lifespan.state if self.lifespan is not None else None
        self.adapter = AsgiAdapter(app, state=state, whole_max=whole_max)
        self.started = False

    def start(self, timeout: Optional[float] = None) -> None:
        """Starts the loop thread and runs the lifespan startup (once)."""
        if self.started:
            return
        self.runner.start()
        if self.lifespan is not None:
            self.runner.call(self.lifespan.startup(), timeout)
        self.started = True

    def submit(
        self, request: Any, body: PyBuffer, responder: Responder
    ) -> "concurrent.futures.Future[None]":
        """Runs one request on the loop (thread-safe; starts the host if needed)."""
        if not self.started:
            self.start()
        return self.runner.submit(self.adapter(request, body, responder))

    def dispatch(self, request: Any, body: PyBuffer, responder: Responder) -> None:
        """Runs one request on the loop, nobody waiting for it (thread-safe; on the loop's
        own thread, e.g. from an `erlang.Inbox`, the request's task starts at once)."""
        if not self.started:
            self.start()
        self.runner.spawn(self.adapter(request, body, responder))

    def stop(self, timeout: Optional[float] = None, drain: float = 0.0) -> None:
        """Waits up to `drain` seconds for the app calls still running (what an app does
        after its response, such as Starlette's background tasks, ends before the lifespan
        shutdown closes what it uses, as under uvicorn), runs the lifespan shutdown, then
        stops the loop thread if the host owns it (cancelling what still runs)."""
        try:
            if self.started and drain > 0:
                left = self.runner.call(self.adapter.idle(drain))
                if left:
                    LOG.warning("%d app calls still running after %.1f s: cancelled", left, drain)
            if self.started and self.lifespan is not None:
                self.runner.call(self.lifespan.shutdown(), timeout)
        finally:
            self.started = False
            if self._own_runner:
                self.runner.stop()
