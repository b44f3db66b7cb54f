"""An ASGI 3 ``websocket`` session over a request's two buffers.

The server does the WebSocket protocol (RFC 6455: the opening handshake's checks, frames,
masking, fragments, ping/pong, the close handshake); the app gets the ASGI messages. Both
directions are streams of *records*, one per message, in the request's usual buffers:

- the request body buffer (the server writes, ``receive`` reads): the client's whole messages,
  and last its close;
- the response buffer (``send`` writes, the server reads): the app's messages and its close.

A record is ``kind`` (1 byte: ``TEXT`` 1, ``BYTES`` 2, ``CLOSE`` 8, the RFC's opcodes), the
payload's length (4 bytes, big-endian), then the payload: UTF-8 text, bytes, or for a close
the code (2 bytes) and the reason (UTF-8). The server's side of this format is
``py_serve_ws_record`` (Erlang); the two must agree.

The buffers are bounded, so both directions have backpressure: a slow app leaves the
client's messages in the server's socket, a slow client holds the app's ``send``.

Messages, as uvicorn gives them:

- ``receive()``: ``websocket.connect`` first; then ``websocket.receive`` with ``text`` or
  ``bytes``; then ``websocket.disconnect`` with the client's ``code`` (1005 when its close
  frame had none; 1006 when the connection dropped without a close) and ``reason``, and the
  same again on every later call.
- ``send()``: ``websocket.accept`` (``subprotocol``, ``headers``) answers the handshake
  (``101``); ``websocket.close`` before it refuses the connection (``403``), after it closes
  the session (``code`` default 1000, ``reason``); ``websocket.send`` sends ``text`` or
  ``bytes``. A send once the client has closed raises `BrokenPipeError` (an `OSError`, as
  ASGI 2.4 asks).

Before accepting, an app may answer with an HTTP response of its own instead (the
``websocket.http.response`` extension, advertised in the scope as uvicorn does: Starlette's
``send_denial_response``, FastAPI's ``HTTPException`` in a WebSocket route):
``websocket.http.response.start`` (``status``, ``headers``), then
``websocket.http.response.body`` messages until one without ``more_body``; the response
goes out whole when its body is complete.

An app that returns without accepting gets a 403 sent for it, as uvicorn does; one that
raises before accepting (or in the middle of its own response), a 500; after accepting, the
server closes with 1011.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any, Dict, List, Optional, Tuple

from ._native import BodyAborted, BodyTruncated, BufferWriter, PyBuffer
from .failures import LOG, client_gone, internal_error
from .fields import checked_header, checked_status
from .responder import Headers, Responder

__all__ = ["BYTES", "CLOSE", "RECORD", "TEXT", "WebSocketSession", "websocket_scope"]

#: A record's head: kind, payload length.
RECORD = struct.Struct(">BI")
TEXT = 1
BYTES = 2
CLOSE = 8

#: The close codes the server reports for a close frame without a code, and for a connection
#: that dropped without a close (RFC 6455 §7.1.5, §7.1.6).
NO_STATUS = 1005
ABNORMAL = 1006

Message = Dict[str, Any]


def websocket_scope(http_scope: Dict[str, Any]) -> Dict[str, Any]:
    """The ``websocket`` scope of a request whose ``http`` scope is `http_scope`
    (`py_buffer.asgi_app.build_scope`): the same keys but ``method``, the scheme ``ws`` or
    ``wss``, the ``subprotocols`` the client offered, and the extensions served here."""
    scope = dict(http_scope, type="websocket",
                 scheme="wss" if http_scope["scheme"] == "https" else "ws",
                 subprotocols=offered_subprotocols(http_scope["headers"]),
                 extensions={"websocket.http.response": {}})
    del scope["method"]
    return scope


def offered_subprotocols(headers: Headers) -> List[str]:
    """The ``Sec-WebSocket-Protocol`` tokens, in order, over all such header lines."""
    offered: List[str] = []
    for name, value in headers:
        if name == b"sec-websocket-protocol":
            offered.extend(p.strip() for p in value.decode("latin-1").split(",") if p.strip())
    return offered


def record(kind: int, payload: bytes) -> bytes:
    """One record (see the module doc)."""
    return RECORD.pack(kind, len(payload)) + payload


def close_payload(code: int, reason: str) -> bytes:
    """A close record's payload; `ValueError` for a code an endpoint may not send."""
    if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
        raise ValueError(f"websocket.close: {code} is not a close code an endpoint may send")
    return code.to_bytes(2, "big") + reason.encode("utf-8")


class WebSocketSession:
    """The ``receive`` and ``send`` of one session, and how it ends (`end`)."""

    CONNECTING, DENYING, OPEN, CLOSED = "connecting", "denying", "open", "closed"

    def __init__(self, responder: Responder, body: PyBuffer) -> None:
        self.responder = responder
        self.body = body
        #: The app's side: not answered yet, accepted, closed (or refused).
        self.state = self.CONNECTING
        self.writer: Optional[BufferWriter] = None
        self.connected = False
        #: The client's side, once it closed (or dropped): the disconnect message.
        self.disconnect: Optional[Message] = None
        #: The app's own HTTP answer while its body comes (``websocket.http.response``).
        self.denial: Optional[Tuple[int, Headers]] = None
        self.denial_body: List[bytes] = []

    async def receive(self) -> Message:
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        if self.disconnect is None:
            try:
                kind, length = RECORD.unpack(await self.body.areadexactly(RECORD.size))
                # Read as it comes: a message may be larger than the buffer.
                payload = await self.body.areadexactly(length)
            except (asyncio.IncompleteReadError, BodyAborted, BodyTruncated):
                self._disconnected(ABNORMAL, "")
            else:
                if kind == TEXT:
                    return {"type": "websocket.receive", "text": payload.decode("utf-8")}
                if kind == BYTES:
                    return {"type": "websocket.receive", "bytes": payload}
                if kind != CLOSE:
                    raise ValueError(f"unknown websocket record kind {kind}")
                code = int.from_bytes(payload[:2], "big") if payload else NO_STATUS
                self._disconnected(code, payload[2:].decode("utf-8"))
        assert self.disconnect is not None
        return dict(self.disconnect)

    def _disconnected(self, code: int, reason: str) -> None:
        self.disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            self._accept(message)
        elif kind == "websocket.send":
            await self._send(message)
        elif kind == "websocket.close":
            await self._close(int(message.get("code") or 1000), message.get("reason") or "")
        elif kind == "websocket.http.response.start":
            self._deny(message)
        elif kind == "websocket.http.response.body":
            self._denial_body(message)
        else:
            raise ValueError(f"unexpected ASGI message type {kind!r} in a websocket session")

    def _accept(self, message: Message) -> None:
        if self.state is not self.CONNECTING:
            raise RuntimeError(f"websocket.accept after the session was {self.state}")
        headers = [checked_header(bytes(n).lower(), bytes(v))
                   for n, v in message.get("headers") or ()]
        subprotocol = message.get("subprotocol")
        if subprotocol is not None:
            headers.append(
                checked_header(b"sec-websocket-protocol", subprotocol.encode("latin-1")))
        self.responder.start(101, headers, None, True)
        self.writer = self.responder.body_writer()
        self.state = self.OPEN

    def _deny(self, message: Message) -> None:
        if self.state is not self.CONNECTING:
            raise RuntimeError(
                f"websocket.http.response.start after the session was {self.state}")
        headers = [checked_header(bytes(n), bytes(v)) for n, v in message.get("headers") or ()]
        self.denial = (checked_status(int(message["status"])), headers)
        self.state = self.DENYING

    def _denial_body(self, message: Message) -> None:
        if self.state is not self.DENYING or self.denial is None:
            raise RuntimeError("websocket.http.response.body without its start")
        self.denial_body.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            status, headers = self.denial
            self.responder.start(status, headers, b"".join(self.denial_body), False)
            self.state = self.CLOSED

    async def _send(self, message: Message) -> None:
        if self.state is not self.OPEN:
            raise RuntimeError(f"websocket.send while the session is {self.state}")
        if self.disconnect is not None:
            raise BrokenPipeError(f"the client closed the websocket ({self.disconnect['code']})")
        text, data = message.get("text"), message.get("bytes")
        if text is not None:
            await self._write(record(TEXT, text.encode("utf-8")))
        elif data is not None:
            await self._write(record(BYTES, bytes(data)))
        else:
            raise ValueError("websocket.send holds neither 'text' nor 'bytes'")

    async def _close(self, code: int, reason: str) -> None:
        if self.state is self.CONNECTING:
            self.state = self.CLOSED
            self._refuse()
        elif self.state is self.OPEN:
            payload = close_payload(code, reason)
            self.state = self.CLOSED
            if self.disconnect is None:
                await self._write(record(CLOSE, payload))
        else:
            raise RuntimeError(f"websocket.close after the session was {self.state}")

    async def _write(self, data: bytes) -> None:
        assert self.writer is not None
        await self.writer.awrite(data)

    def _refuse(self) -> None:
        """The handshake refused: 403, no body."""
        self.responder.start(403, [(b"content-type", b"text/plain"), (b"content-length", b"0")],
                             b"", False)

    def end(self, exc: Optional[BaseException]) -> None:
        """The app returned (`exc` None) or raised: the one end message of the request."""
        if exc is not None and not (client_gone(exc) or self.disconnect is not None):
            LOG.error("websocket app raised (session %s)", self.state, exc_info=exc)
        if self.state is self.CONNECTING:
            self.state = self.CLOSED
            if exc is None or client_gone(exc):
                self._refuse()
                self.responder.finish(True)
            else:
                internal_error(self.responder, True)
        elif self.state is self.DENYING:
            # Its own response left unfinished: nothing of it was sent.
            if exc is None:
                LOG.error("websocket app returned in the middle of its HTTP response")
            self.state = self.CLOSED
            internal_error(self.responder, True)
        elif exc is None or self.state is self.CLOSED:
            self.responder.finish(True)
        else:
            self.responder.fail(exc)
        self.body.close()
