"""An ASGI 3 server adapter for HTTP: runs an app for one request on the running event loop.

``await AsgiAdapter(app)(request, body, responder)`` builds the ``http`` scope from the request
description (`RequestHead`), gives the app ``receive`` over the body buffer
(`py_buffer.asgi.receive`) and a ``send`` into the `Responder`:

- ``http.response.start`` is held until the first body message. A ``http.response.body``
  with ``more_body=False`` and nothing sent yet (up to ``whole_max`` bytes) goes with the head
  in one ``start`` message; otherwise the head goes out with ``more=True`` and the bodies are
  written with ``await writer.awrite(body)``: the task waits, without blocking the loop, while
  the server's response buffer is full.
- When the client leaves, the server aborts the request body (``receive`` then returns
  ``http.disconnect``) and closes the response buffer's reader (``send`` then raises
  `BrokenPipeError`, an `OSError`, as ASGI 2.4 asks of a send on a closed connection).
- The response is finished (``responder.finish``) as soon as its last body message is sent,
  so the server need not wait for what the app does afterwards (background tasks); then the
  request body's reader is closed, so a pending ``receive`` returns ``http.disconnect``.
- An exception before the head becomes a 500; after it, ``responder.fail``; an app that
  returns without completing its response is treated as having raised (see
  `py_buffer.failures`).

``scope["state"]`` is a shallow copy of the lifespan state (`py_buffer.lifespan`), when given.

A request the server marks ``websocket`` (it checked the opening handshake) runs as a
``websocket`` session instead (`py_buffer.asgi_websocket`).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Dict, MutableMapping, Optional, Tuple
from urllib.parse import unquote_to_bytes

from . import asgi
from ._native import BufferWriter, PyBuffer
from .failures import LOG, report
from .asgi_websocket import WebSocketSession, websocket_scope
from .fields import checked_header, checked_status
from .responder import Headers, RequestHead, Responder

__all__ = ["ASGI", "AsgiAdapter", "WHOLE_MAX", "build_scope"]

#: A whole body up to this many bytes goes in the ``start`` message.
WHOLE_MAX = 1 << 20

#: The scope's ``asgi`` entry.
ASGI = {"version": "3.0", "spec_version": "2.3"}

Message = Dict[str, Any]
AsgiApp = Callable[[Dict[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


def build_scope(head: RequestHead, state: Optional[MutableMapping[str, Any]] = None) -> Dict[str, Any]:
    """The ``http`` scope of `head`: ``path`` percent- and UTF-8-decoded, ``raw_path`` as
    sent, header names lower-cased bytes."""
    scope: Dict[str, Any] = {
        "type": "http",
        "asgi": dict(ASGI),
        "http_version": head.http_version,
        "method": head.method,
        "scheme": head.scheme,
        "path": unquote_to_bytes(head.path).decode("utf-8", "replace"),
        "raw_path": head.path,
        "query_string": head.query_string,
        "root_path": head.root_path,
        "headers": [(name.lower(), value) for name, value in head.headers],
        "client": head.client,
        "server": head.server,
        "extensions": {},
    }
    if state is not None:
        scope["state"] = dict(state)
    return scope


class _Send:
    """The ``send`` callable of one request."""

    def __init__(self, responder: Responder, body: PyBuffer, whole_max: int) -> None:
        self.responder = responder
        self.body = body
        self.whole_max = whole_max
        self.pending: Optional[Tuple[int, Headers]] = None
        self.writer: Optional[BufferWriter] = None
        self.started = False
        self.done = False

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.pending is not None:
                raise RuntimeError("http.response.start sent twice")
            headers = [checked_header(bytes(n), bytes(v)) for n, v in message.get("headers", ())]
            self.pending = (checked_status(int(message["status"])), headers)
        elif kind == "http.response.body":
            await self._body(bytes(message.get("body", b"")), bool(message.get("more_body", False)))
        else:
            raise ValueError(f"unexpected ASGI message type {kind!r}")

    async def _body(self, data: bytes, more: bool) -> None:
        if self.pending is None:
            raise RuntimeError("http.response.body sent before http.response.start")
        if self.done:
            raise RuntimeError("http.response.body sent after the response was complete")
        if self.writer is None:
            status, headers = self.pending
            if not more and len(data) <= self.whole_max:
                self.responder.start(status, headers, data, False)
                self.started = True
                self.complete()
                return
            if not data:
                return  # nothing to send yet: the head waits for a body (or the end)
            self.responder.start(status, headers, None, True)
            self.started = True
            self.writer = self.responder.body_writer()
        if data:
            await self.writer.awrite(data)
        if not more:
            self.complete()

    def complete(self) -> None:
        """The response is whole: finish it, then end the request body's reader."""
        self.done = True
        self.responder.finish(self.body.at_eof())
        self.body.close()


class AsgiAdapter:
    """Serves HTTP requests with an ASGI 3 app: ``await adapter(request, body, responder)``
    on the loop that runs the app. ``state`` is the lifespan state copied into each scope."""

    def __init__(
        self,
        app: AsgiApp,
        *,
        state: Optional[MutableMapping[str, Any]] = None,
        whole_max: int = WHOLE_MAX,
    ) -> None:
        self.app = app
        self.state = state
        self.whole_max = whole_max
        #: The app calls still running, their work after the response included.
        self.running = 0
        self._idle: Optional["asyncio.Future[None]"] = None

    async def idle(self, timeout: float) -> int:
        """Waits until no app call of this adapter runs, at most `timeout` seconds; returns
        how many still run. A call runs until the app returns, so what it does after its
        response (Starlette's background tasks) counts."""
        if self.running:
            self._idle = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._idle), timeout)
            except asyncio.TimeoutError:
                pass
            finally:
                self._idle = None
        return self.running

    async def __call__(self, request: Any, body: PyBuffer, responder: Responder) -> None:
        self.running += 1
        try:
            await self._serve(request, body, responder)
        finally:
            self.running -= 1
            if not self.running and self._idle is not None and not self._idle.done():
                self._idle.set_result(None)

    async def _serve(self, request: Any, body: PyBuffer, responder: Responder) -> None:
        head = RequestHead.from_mapping(request)
        if head.websocket:
            await self._session(head, body, responder)
            return
        scope = build_scope(head, self.state)
        send = _Send(responder, body, self.whole_max)
        body_receive = asgi.receive(body)
        gone = False

        async def receive() -> Message:
            nonlocal gone
            message = await body_receive()
            if message["type"] == "http.disconnect" and not send.done:
                gone = True  # the client left (or the body failed) before the response ended
            return message

        try:
            await self.app(scope, receive, send)
            if not send.done:
                raise RuntimeError("the ASGI app returned without completing its response")
        except BaseException as exc:  # reported; re-raised if not an Exception
            if send.done:
                if gone:
                    LOG.debug("app raised after the client left: %r", exc)
                else:
                    LOG.error("app raised after its response was complete", exc_info=exc)
            else:
                report(responder, exc, send.started, body.at_eof(), gone)
                body.close()
            if not isinstance(exc, Exception):
                raise

    async def _session(self, head: RequestHead, body: PyBuffer, responder: Responder) -> None:
        session = WebSocketSession(responder, body)
        scope = websocket_scope(build_scope(head, self.state))
        try:
            await self.app(scope, session.receive, session.send)
        except BaseException as exc:  # reported; re-raised if not an Exception
            session.end(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            session.end(None)
