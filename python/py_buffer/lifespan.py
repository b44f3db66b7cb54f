"""ASGI lifespan: one app's ``startup`` and ``shutdown``, run once each on its event loop.

``await lifespan.startup()`` runs the app with a ``lifespan`` scope in a task and returns once
the app sent ``lifespan.startup.complete``; ``lifespan.startup.failed`` raises
`LifespanFailed` (the server should not serve the app). An app that raises before completing
its startup is taken as not supporting lifespan (the spec's rule: the server goes on without
lifespan events), logged at INFO. ``lifespan.state`` is the dict the app filled during startup
(``scope["state"]``); the HTTP adapter copies it into each request's scope.
``await lifespan.shutdown()`` sends ``lifespan.shutdown`` and waits for the app's answer;
``lifespan.shutdown.failed`` raises `LifespanFailed`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, Optional

from .asgi_app import ASGI, AsgiApp
from .failures import LOG

__all__ = ["Lifespan", "LifespanFailed"]

Message = Dict[str, Any]


class LifespanFailed(RuntimeError):
    """The app reported ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``."""


class Lifespan:
    """The lifespan of one app on one event loop (create, use and await it on that loop)."""

    def __init__(self, app: AsgiApp) -> None:
        self.app = app
        self.state: Dict[str, Any] = {}
        #: False once the app showed it does not support lifespan.
        self.supported = True
        self._task: Optional["asyncio.Task[None]"] = None
        self._started: Optional["asyncio.Future[None]"] = None
        self._stopped: Optional["asyncio.Future[None]"] = None
        self._shutdown: Optional[asyncio.Event] = None
        self._startup_sent = False

    async def startup(self) -> None:
        """Runs the app's startup; raises `LifespanFailed` if it reported failure."""
        if self._task is not None:
            raise RuntimeError("lifespan startup already ran")
        loop = asyncio.get_running_loop()
        self._started = loop.create_future()
        self._stopped = loop.create_future()
        self._shutdown = asyncio.Event()
        self._task = loop.create_task(self._main())
        await self._started

    async def shutdown(self) -> None:
        """Runs the app's shutdown (nothing if it does not support lifespan or never
        started); raises `LifespanFailed` if it reported failure."""
        if self._task is None or self._shutdown is None or self._stopped is None:
            return
        if not self.supported or self._task.done():
            await asyncio.gather(self._task, return_exceptions=True)
            return
        self._shutdown.set()
        try:
            await self._stopped
        finally:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": dict(ASGI), "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            assert self._started is not None and self._stopped is not None
            if not self._started.done():
                self.supported = False
                LOG.info("the ASGI app does not support lifespan (%r); serving without it", exc)
                self._started.set_result(None)
            elif not self._stopped.done():
                self._stopped.set_exception(LifespanFailed(f"lifespan raised: {exc!r}"))
                LOG.error("the ASGI app's lifespan raised", exc_info=exc)
            if not isinstance(exc, Exception):
                raise
        else:
            assert self._started is not None and self._stopped is not None
            if not self._started.done():  # returned without a word: no lifespan support
                self.supported = False
                self._started.set_result(None)
            if not self._stopped.done():
                self._stopped.set_result(None)

    async def _receive(self) -> Message:
        if not self._startup_sent:
            self._startup_sent = True
            return {"type": "lifespan.startup"}
        assert self._shutdown is not None
        await self._shutdown.wait()
        return {"type": "lifespan.shutdown"}

    async def _send(self, message: Message) -> None:
        assert self._started is not None and self._stopped is not None
        kind = message["type"]
        if kind == "lifespan.startup.complete":
            _settle(self._started, None)
        elif kind == "lifespan.startup.failed":
            _settle(self._started, LifespanFailed(message.get("message", "startup failed")))
        elif kind == "lifespan.shutdown.complete":
            _settle(self._stopped, None)
        elif kind == "lifespan.shutdown.failed":
            _settle(self._stopped, LifespanFailed(message.get("message", "shutdown failed")))
        else:
            raise ValueError(f"unexpected lifespan message type {kind!r}")


def _settle(future: "asyncio.Future[None]", error: Optional[BaseException]) -> None:
    if future.done():
        raise RuntimeError("lifespan message sent twice")
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
